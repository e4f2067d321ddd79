"""Limits on a request body, checked before the application reads it: its size (413
before an oversized body is read into memory) and how deep its JSON nests (422
before any parser or encoder recurses into it)."""

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import ErrorCode
from app.http.errors import error_answer

MAX_JSON_DEPTH = 32  # a spec nests 3 levels, a sweep 5: far below this
# A JSON string (with its escapes), or a bracket: brackets inside strings don't nest.
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class BodySizeLimit:
    """Refuses a body over ``max_bytes`` with 413: by its Content-Length at once, or,
    when it comes in chunks, as soon as the chunks add up to more. The application
    then sees the client as gone and stops reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, int(declared))
            return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, receive, send, received)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The application gave up on the body it was refused: nothing more to do.

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        message = (
            f"Expected a request body of at most {self.max_bytes} bytes, received {size} or more."
        )
        response = error_answer(ErrorCode.BODY_TOO_LARGE, message, headers={"Connection": "close"})
        await response(scope, receive, send)


def json_depth(body: bytes) -> int:
    """How deep the JSON in ``body`` nests (0 for a scalar, 1 for a flat object); read as
    tokens, so it costs no recursion and stops at no depth."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be deeper than the limit: no need to look closer
    depth = deepest = 0
    for token in _JSON_TOKENS.finditer(body):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in (b"]", b"}"):
            depth -= 1
    return deepest


class JsonDepthLimit:
    """Refuses a JSON body nested deeper than ``MAX_JSON_DEPTH`` with 422: Python's
    parser and the error encoders recurse, and a few kilobytes of brackets would take
    them past the interpreter's recursion limit. The body (at most the size limit) is
    read here, checked, and handed on unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client left, or the body was refused (413): nobody to answer
        depth = json_depth(body)
        if depth > MAX_JSON_DEPTH:
            detail = {
                "field": "(body)",
                "message": f"expected JSON nested at most {MAX_JSON_DEPTH} levels deep; "
                f"received {depth} levels",
                "received": None,
            }
            response = error_answer(
                ErrorCode.INVALID_REQUEST, f"The request is invalid: {detail['message']}", [detail]
            )
            await response(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


def _may_be_json(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return False
    content_type = dict(scope["headers"]).get(b"content-type", b"application/json")
    return b"json" in content_type.lower()


async def read_body(receive: Receive) -> bytes | None:
    """The whole body (the size limit outside bounds it); None if the client left."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the whole body once, then whatever the client sends."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
