"""Every request gets an id: the client's ``X-Request-ID`` when it is a sane one,
else a new one. It is returned in the ``X-Request-ID`` header and carried by every
log line the request causes. Every answered request is counted and timed for
/metrics by its route, and gets an access line (``RequestLog``)."""

import itertools
import logging
import math
import os
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.logs import request_id
from app.http.ratelimit import RateLimiter

HEADER = b"x-request-id"
SCOPE_KEY = "request_id"
SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access = logging.getLogger("app.access")


class RequestLog:
    """Counts and times each answered request for /metrics under its route, and writes
    its access line: always for a refused or failed one (status 400 and up), for
    successful ones, and those shed under load (``shed``: the batcher's 503s, which
    a flood makes by the thousand), up to ``per_second`` a second (a second's worth
    at once; ``inf``: every one). The next line written after some were left out says
    how many (``unlogged``). A line each cost the API 5 to 10% of its throughput at
    thousands of predictions a second (docs/benchmarks.md); the metrics still count
    them all."""

    def __init__(self, per_second: float) -> None:
        self._budget = (
            None
            if math.isinf(per_second)
            else RateLimiter(per_second * 60, max_buckets=1, burst=per_second)
        )
        self._unlogged = 0

    def record(
        self,
        scope: Scope,
        template: str | None,
        status: int,
        started: float,
        shed: bool = False,
    ) -> None:
        """``template``: the route's path template (one series per route), if it has one."""
        elapsed = time.perf_counter() - started
        template = template or metrics.ROUTE_UNKNOWN
        method, path = scope["method"], scope["path"]
        metrics.REQUESTS.labels(method, template, str(status)).inc()
        metrics.LATENCY.labels(method, template).observe(elapsed)
        if (status < 400 or shed) and not self._within_budget():
            self._unlogged += 1
            return
        client = scope.get("client")
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "client": client[0] if client else None,
        }
        message, arguments = "%s %s %s", [method, path, status]
        if self._unlogged:
            fields["unlogged"], self._unlogged = self._unlogged, 0
            message += " (after %d unlogged)"
            arguments.append(fields["unlogged"])
        access.info(message, *arguments, extra=fields)

    def _within_budget(self) -> bool:
        """A line for one more successful request (no budget: every one has its line)."""
        if self._budget is None:
            return True
        return self._budget.enabled and self._budget.acquire("lines") == 0


class RequestIds:
    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        current = request_id_from(dict(scope["headers"]).get(HEADER))
        token = request_id.set(current)
        # For the last-resort 500, which Starlette answers outside this middleware.
        scope[SCOPE_KEY] = current
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, current.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")  # set by the router: the path template, not the path
            self.log.record(scope, getattr(route, "path", None), status, started)
            request_id.reset(token)


# A new id: this process's random half, then a count (32 hex digits in all). Unique,
# not secret: a random one each (a getrandom call) cost 13% of a predict request's
# time on the event loop.
_PROCESS_PART = secrets.token_hex(8)
_COUNT = itertools.count(1)


def _new_process_part() -> None:
    global _PROCESS_PART, _COUNT
    _PROCESS_PART, _COUNT = secrets.token_hex(8), itertools.count(1)


os.register_at_fork(after_in_child=_new_process_part)  # a forked child counts on its own


def request_id_from(given: bytes | None) -> str:
    """The client's ``X-Request-ID`` when it is a sane one, else a new id."""
    text = given.decode("latin-1") if given else ""
    return text if SANE.match(text) else f"{_PROCESS_PART}{next(_COUNT):016x}"
