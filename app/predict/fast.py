"""The predict hot path: ``POST /v1/predict`` and ``POST /v1/models/{version}/predict``
answered straight from ASGI, without FastAPI's routing, dependency solving and
response validation (which cost more than the model does per review).

It keeps the contract: the same key check, scope and rate limit (the functions the
FastAPI dependencies call), the same body model (``PredictRequest``, validated by
pydantic-core from the JSON bytes), the same limits and errors (domain errors,
rendered by the HTTP edge), the same answer (``PredictResponse``); the middlewares
around it add request ids, the access line, metrics and security headers as for any
route. What it does not fully accept (a body it cannot validate, query parameters,
another content type) goes on, unchanged, to the FastAPI routes, which answer it
as they always have: they remain the API's description and its error paths.
"""

import re
from types import SimpleNamespace

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.deps import authenticate, may_predict, spend
from app.core.errors import DomainError
from app.http.body_limit import read_body, replay
from app.http.errors import ErrorResponse, error_body, headers_of, status_of
from app.predict.schemas import PredictRequest, PredictResponse
from app.predict.service import Scored, Serving

PATH = re.compile(r"^/v1/(?:predict|models/([1-9][0-9]{0,9})/predict)$")
MAX_VERSION = 2**31 - 1
# The route templates, as the access log and the metrics label them.
ROUTES = {
    False: SimpleNamespace(path="/v1/predict"),
    True: SimpleNamespace(path="/v1/models/{version}/predict"),
}


class FastPredict:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _predict_path(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client left, or the body was refused (413)
        version = int(found) if found else None
        answer = await _answer(scope, body, version)
        if answer is None:  # FastAPI's route answers it, as it would have
            await self.app(scope, replay(body, receive), send)
            return
        scope["route"] = ROUTES[version is not None]
        await answer(scope, receive, send)


def _predict_path(scope: Scope) -> str | None:
    """The version in the path ("" for the champion), or None: not for this path."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
        return None
    matched = PATH.match(scope["path"])
    if matched is None:
        return None
    content_type = dict(scope["headers"]).get(b"content-type", b"application/json")
    if content_type.split(b";")[0].strip().lower() != b"application/json":
        return None
    return matched.group(1) or ""


async def _answer(scope: Scope, body: bytes, version: int | None) -> Response | None:
    request = Request(scope)
    serving: Serving = request.app.state.serving
    try:
        principal = may_predict(request, await authenticate(request))
        try:
            texts = PredictRequest.model_validate_json(body).texts
        except ValidationError:
            return None  # the route's validation says what is wrong, field by field
        if version is not None and version > MAX_VERSION:
            return None
        spend(request, "predict", principal)
        scored: Scored = await (
            serving.predict(texts) if version is None else serving.predict_with(version, texts)
        )
    except DomainError as error:
        return ErrorResponse(
            error_body(error.code, error.message, error.details),
            status_code=status_of(error),
            headers=headers_of(error),
        )
    return Response(PredictResponse.of(scored).model_dump_json(), media_type="application/json")
