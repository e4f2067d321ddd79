"""One logging configuration for the API and the worker: JSON lines on stderr.

Each line carries the time, level, logger and message, and, when known, the
request id (API) or the job id (worker), so one request or one job can be
followed through the logs. ``SENTIMENT_LOG_FORMAT=text`` gives plain lines.
"""

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

OURS = "sentiment"
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in (("request_id", request_id), ("job_id", job_id)):
            value = getattr(record, name, None) or var.get()
            if value:
                line[name] = value
        for name in ("method", "path", "status", "duration_ms", "client"):
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _escape_invisible(json.dumps(line, ensure_ascii=False, default=str))


# JSON escapes C0 controls itself; these it leaves raw, and they could break a line
# or reorder what a terminal shows (C1 controls, line separators, direction marks).
_INVISIBLE = re.compile("[\u0080-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape_invisible(text: str) -> str:
    """The same JSON, with those characters escaped: readable names stay readable."""
    return _INVISIBLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, too)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(log_format: str = "json", level: str = "INFO") -> None:
    """Route the project's, uvicorn's and Celery's loggers to one stderr handler."""
    handler: logging.Handler = StderrHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(OURS)  # replaced, not duplicated, when configured again
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != OURS]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "celery"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the API logs each request itself
