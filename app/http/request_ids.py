"""Every request gets an id: the client's ``X-Request-ID`` when it is a sane one,
else a new one. It is returned in the ``X-Request-ID`` header, carried by every log
line the request causes, and ends the request with one access log line; the
request is counted and timed for /metrics by its route."""

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.core.logs import request_id

HEADER = b"x-request-id"
SCOPE_KEY = "request_id"
SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access = logging.getLogger("app.access")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            record(scope, getattr(route, "path", None), status, started)
            request_id.reset(token)


def request_id_from(given: bytes | None) -> str:
    """The client's ``X-Request-ID`` when it is a sane one, else a new id."""
    text = given.decode("latin-1") if given else ""
    return text if SANE.match(text) else secrets.token_hex(16)


def record(scope: Scope, template: str | None, status: int, started: float) -> None:
    """Count and time the answered request for /metrics under its route ``template``
    (not its path: one series per route), and log its access line."""
    elapsed = time.perf_counter() - started
    template = template or metrics.ROUTE_UNKNOWN
    method, path = scope["method"], scope["path"]
    metrics.REQUESTS.labels(method, template, str(status)).inc()
    metrics.LATENCY.labels(method, template).observe(elapsed)
    client = scope.get("client")
    access.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "client": client[0] if client else None,
        },
    )
