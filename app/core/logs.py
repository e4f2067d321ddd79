"""One logging configuration for the API and the worker: JSON lines on stderr.

Each line carries the time, level, logger and message, and, when known, the
request id (API) or the job id (worker), so one request or one job can be
followed through the logs. ``SENTIMENT_LOG_FORMAT=text`` gives plain lines.
Python's warnings are logged too. What a process writes past logging (native
code, ``print``) is made into such lines by ``app/core/output_relay.py``.
"""

import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
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
        for name in ("method", "path", "status", "duration_ms", "client", "unlogged"):
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return escape_invisible(_ENCODER.encode(line))


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # one, not one a line

# JSON escapes C0 controls itself; these it leaves raw, and they could break a line
# or reorder what a terminal shows (C1 controls, line separators, direction marks).
_INVISIBLE = re.compile("[\u0080-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def escape_invisible(text: str) -> str:
    """The same JSON, with those characters escaped: readable names stay readable."""
    if text.isascii():  # most lines: none of them can be there
        return text
    return _INVISIBLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, too)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(
    log_format: str = "json",
    level: str = "INFO",
    filters: Sequence[Callable[[logging.LogRecord], bool]] = (),
) -> None:
    """Route the project's, uvicorn's and Celery's loggers, and Python's warnings, to one
    stderr handler; ``filters`` may add fields to its records."""
    handler: logging.Handler = StderrHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    for record_filter in filters:
        handler.addFilter(record_filter)
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
    logging.captureWarnings(True)  # warnings.warn(...) becomes a line of logger py.warnings
    # gensim logs its progress at INFO, a line every second of word-vector training;
    # the job's progress reports it instead. DEBUG shows it again.
    logging.getLogger("gensim").setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)
