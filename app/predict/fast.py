"""The predict hot path: ``POST /v1/predict`` and ``POST /v1/models/{version}/predict``,
answered in front of the middleware stack, without FastAPI's routing, dependency
solving and response validation (together they cost more than the model does per
review, and the HTTP path set the service's speed).

It keeps the contract by calling what the stack calls: the same request id
(``request_id_from``), key check, scope and rate limit (``principal_of``,
``may_predict``, ``spend``), body model (``PredictRequest``, validated by
pydantic-core from the JSON bytes), limits, answer (``PredictResponse``), errors
(``error_response``), hardening headers, metrics and access line (``RequestLog``).
What it does not fully accept (a body it cannot validate, no ``Content-Length`` or
one over the limit, query parameters, another content type, a version out of range)
goes on, unchanged, to the FastAPI routes, which answer it as they always have:
they remain the API's description and its error paths.

The key is checked before the body is read, and so is the caller's room in the
batcher, for as many texts as its ``Content-Length`` holds at the size of its last
request's (``TextSizes``): under a flood, a client whose texts would wait too long is
refused (503 ``overloaded``) without its body being read into a request or parsed, so
refusals stay cheap for everyone else.
"""

import asyncio
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeGuard

from pydantic import ValidationError
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.deps import caller_id, may_predict, principal_of, spend
from app.auth.keys import Principal
from app.core.errors import ErrorCode, Unavailable
from app.core.logs import request_id
from app.http.body_limit import read_body, replay
from app.http.errors import STATUS, ErrorResponse, error_body, error_response
from app.http.request_ids import HEADER as REQUEST_ID
from app.http.request_ids import request_id_from
from app.http.security_headers import hardening_headers
from app.predict.schemas import PredictRequest, PredictResponse
from app.predict.service import Serving, nothing_held

PATH = re.compile(r"^/v1/(?:predict|models/([1-9][0-9]{0,9})/predict)$")
MAX_VERSION = 2**31 - 1
# The route templates, as the access log and the metrics name them.
CHAMPION_ROUTE, VERSION_ROUTE = "/v1/predict", "/v1/models/{version}/predict"
JSON = b"application/json"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for it, in the metrics and the access log
# An answer: its status, body and headers (besides those every answer gets).
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


def predict_path(scope: Scope) -> str | None:
    """The version a predict request names ("" for the champion); None: not one."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    found = PATH.match(scope["path"])
    return None if found is None else found.group(1) or ""


async def answer_predict(
    state: State, scope: Scope, receive: Receive, send: Send, version: str, otherwise: ASGIApp
) -> None:
    """Answer a predict request for ``version`` ("": the champion), or hand it on to
    ``otherwise`` (the middleware stack and the routes)."""
    headers = dict(scope["headers"])
    length = headers.get(b"content-length", b"")
    if (
        scope["query_string"]
        or headers.get(b"content-type", JSON).split(b";")[0].strip().lower() != JSON
        or not length.isdigit()
        or int(length) > state.settings.max_body_bytes
    ):
        await otherwise(scope, receive, send)
        return
    started = time.perf_counter()
    current = request_id_from(headers.get(REQUEST_ID))
    token = request_id.set(current)  # for every line logged on the way
    route = VERSION_ROUTE if version else CHAMPION_ROUTE
    number = int(version) if version else None
    release: Callable[[], None] = nothing_held
    try:
        try:
            principal, caller = await _caller(state, scope, headers)
            if number is None or number <= MAX_VERSION:  # before the body is read
                texts = state.text_sizes.estimate(caller, int(length))
                release = state.serving.check_room(caller, number, texts)
        except Exception as error:  # answered as the stack answers it, the body unread
            shed = is_shed(error)
            if is_shed(error):
                refused = shed_answer(error)
            else:
                refused = _unpack(error_response(error, "POST", scope["path"], None))
            await _send(send, scope, current, refused)
            state.request_log.record(scope, route, refused[0], started, shed)
            return
        reading = time.perf_counter()
        body = await read_body(receive)
        if body is None:
            return  # the client left: nobody to answer
        # Its wait for the model counts from its headers, less the time its client took
        # to send the body: a slow upload (or a client paused between headers and body)
        # queues for nothing, and counted it had the request refused or dropped late.
        arrived = started + (time.perf_counter() - reading)
        watch, shed = ClientWatch(receive), False
        try:
            answer = await _score(
                state, scope, principal, caller, body, number, release, watch.arm, arrived
            )
        except asyncio.CancelledError:
            if not watch.left():
                raise  # cancelled from outside (the server stopping): not ours to keep
            state.request_log.record(scope, route, CLIENT_CLOSED_REQUEST, started)
            return  # its texts were dropped from the queue; nobody to answer
        except Exception as error:  # answered as the stack answers it
            answer = _unpack(error_response(error, "POST", scope["path"], None))
            shed = is_shed(error)
        finally:
            watch.close()
        if answer is None:  # the route answers it, as it would have
            await otherwise(scope, replay(body, receive), send)
            return
        await _send(send, scope, current, answer)
        state.request_log.record(scope, route, answer[0], started, shed)
    finally:
        release()  # when it was not queued: the client left, or the route answers it
        request_id.reset(token)


async def _send(send: Send, scope: Scope, request: str, answer: Answer) -> None:
    status, content, extra = answer
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON),
                (b"content-length", str(len(content)).encode()),
                *extra,
                (REQUEST_ID, request.encode()),
                *hardening_headers(scope["path"]),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def _caller(
    state: State, scope: Scope, headers: dict[bytes, bytes]
) -> tuple[Principal | None, str]:
    """The key's principal (401, 403 as the route answers them), and whose turn its
    texts wait for: the key, or the client's address."""
    authorization = headers.get(b"authorization")
    principal = await principal_of(
        authorization.decode("latin-1") if authorization is not None else None, state
    )
    principal = may_predict(state.settings, principal)
    client = scope.get("client")
    return principal, caller_id(principal, client[0] if client else None)


async def _score(
    state: State,
    scope: Scope,
    principal: Principal | None,
    caller: str,
    body: bytes,
    version: int | None,
    release: Callable[[], None],
    on_deferred: Callable[[], None],
    arrived: float,
) -> Answer | None:
    """The predictions, as the route would answer them; None: for the route to answer.
    ``release``: the texts held for it since its headers (``Serving.check_room``), let go
    as its own are submitted in their place; ``arrived``: where its wait counts from (its
    headers, moved on by the time its body took to come)."""
    try:
        request = PredictRequest.model_validate_json(body)
    except ValidationError:
        return None  # the route's validation says what is wrong, field by field
    if request.explain:
        return None  # the route explains: the hot path is for scores alone
    texts = request.texts
    state.text_sizes.note(caller, len(body), len(texts))
    release()
    if version is not None and version > MAX_VERSION:
        return None
    client = scope.get("client")
    spend(state, "predict", principal, client[0] if client else None)
    serving: Serving = state.serving
    scored = await (
        serving.predict(texts, caller, on_deferred, arrived)
        if version is None
        else serving.predict_with(version, texts, caller, on_deferred, arrived)
    )
    return 200, PredictResponse.of(scored).model_dump_json(exclude_none=True).encode(), []


class TextSizes:
    """How many texts a request holds, estimated from its ``Content-Length`` before its
    body is read: at the bytes per text of its client's last parsed request (a client
    not seen yet: one text). Without it a flood's requests, refused only once parsed,
    spent 40% of the event loop parsing 256 reviews each. Bounded: the least recently
    seen of over ``clients`` clients are forgotten (anonymous callers are addresses)."""

    def __init__(self, clients: int = 4096) -> None:
        self.clients = clients
        self._bytes_per_text: OrderedDict[str, float] = OrderedDict()

    def note(self, client: str, body_bytes: int, texts: int) -> None:
        self._bytes_per_text[client] = body_bytes / max(texts, 1)
        self._bytes_per_text.move_to_end(client)
        if len(self._bytes_per_text) > self.clients:
            self._bytes_per_text.popitem(last=False)

    def estimate(self, client: str, body_bytes: int) -> int:
        per_text = self._bytes_per_text.get(client)
        return 1 if per_text is None else max(1, round(body_bytes / per_text))


class ClientWatch:
    """Cancels the request's task where it waits if its client disconnects, once armed
    (``arm``: by the batcher, when a model call leaves the request waiting). Its texts
    are then dropped from the batcher's queue before they reach the model. The body is
    read, so the next message ``receive`` gives is the disconnect (as Starlette's
    streaming answers listen). Armed only for requests that wait past a call: watching
    every request cost single-review throughput 4%."""

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task, self.receive = task, receive
        self.gone: asyncio.Future[Message] | None = None

    def arm(self) -> None:
        if self.gone is None:
            self.gone = asyncio.ensure_future(self.receive())
            self.gone.add_done_callback(self._leave)

    def _leave(self, _: asyncio.Future[Message]) -> None:
        self.task.cancel()

    def left(self) -> bool:
        """Whether a cancel was the client's leaving (then it is taken back)."""
        if self.gone is None or not self.gone.done() or self.gone.cancelled():
            return False
        self.task.uncancel()
        return True

    def close(self) -> None:
        """Before the answer: sending it ends ``receive()`` too."""
        if self.gone is not None:
            self.gone.remove_done_callback(self._leave)
            self.gone.cancel()


def is_shed(error: Exception) -> TypeGuard[Unavailable]:
    """A 503 ``overloaded``: shed under load, not a failure."""
    return isinstance(error, Unavailable) and error.code == ErrorCode.OVERLOADED


def shed_answer(error: Unavailable) -> Answer:
    """The 503 ``overloaded`` answer, as ``error_response`` gives it, without its
    general encoder: a flood is refused thousands of times a second, and the encoder
    was a fifth of each refusal's time."""
    body = json.dumps(
        error_body(error.code, error.message), ensure_ascii=True, separators=(",", ":")
    )
    retry_after = error.retry_after
    extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
    return STATUS[error.code], body.encode(), extra


def _unpack(response: ErrorResponse) -> Answer:
    own = {b"content-type", b"content-length"}
    extra = [(name, value) for name, value in response.raw_headers if name not in own]
    return response.status_code, bytes(response.body), extra
