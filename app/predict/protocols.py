"""What the standard inference protocols share (``tf_serving.py``, ``open_inference.py``):
the model's name in their paths, their error body, and scoring through the service's
own keys, scopes, rate limit, limits, batcher and versions.

Each protocol answers its errors its own way, ``{"error": "<message>"}``, with the
status the service gives the same error (a malformed request: 400, as both protocols
have it), so a client of TensorFlow Serving, KServe, Triton or Seldon reads them.
"""

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from app.auth.deps import caller_id, spend
from app.auth.keys import Principal
from app.core.errors import DomainError, Invalid
from app.core.types import UnicodeText
from app.http.errors import STATUS, headers_of
from app.http.params import Digits
from app.predict.service import Scored, Serving
from app.registry.artifact import MODEL_NAME

TEXT: TypeAdapter[str] = TypeAdapter(UnicodeText)
Version = Annotated[int, Digits, Path(ge=1, le=2**31 - 1)]  # as /v1/models/{version}/predict's
INVALID_STATUS = 400  # both protocols' status for a request they cannot use


class ProtocolErrorOut(BaseModel):
    error: str = Field(description="What was wrong, for a person.")


# What the protocol routes may answer besides 200, each as ``ProtocolErrorOut``.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProtocolErrorOut, "description": description}
    for status, description in {
        400: "A request the protocol cannot use: a wrong input name, datatype or shape.",
        401: "No API key, or an unknown or revoked one (WWW-Authenticate: Bearer).",
        403: "The key lacks the predict scope.",
        404: "Another model's name, or no such version.",
        429: "Too many predict requests for this key (Retry-After).",
        503: "No model serves yet, or it is at capacity (Retry-After).",
    }.items()
}


class ProtocolError(Exception):
    """A request the protocol cannot use: its message, for ``{"error": ...}``."""

    def __init__(self, message: str, status: int = INVALID_STATUS) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def protocol_answer(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class ProtocolRoute(APIRoute):
    """A route whose every error, its key's and limits' too, answers in the protocols'
    form, ``{"error": message}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except ProtocolError as error:
                return protocol_answer(error.message, error.status)
            except Invalid as error:
                return protocol_answer(error.message, INVALID_STATUS)
            except DomainError as error:
                return protocol_answer(error.message, STATUS[error.code], headers_of(error))
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                where = ".".join(str(part) for part in first.get("loc", ()))
                return protocol_answer(f"{where}: {first.get('msg', 'invalid')}", INVALID_STATUS)

        return answer


def check_name(name: str) -> None:
    if name != MODEL_NAME:
        raise ProtocolError(
            f"No model named {name!r}: this server serves {MODEL_NAME!r}.", status=404
        )


async def score(
    request: Request, principal: Principal | None, version: int | None, texts: list[str]
) -> Scored:
    """``texts`` scored as ``POST /v1/predict`` scores them: the caller's predict rate,
    the champion (``version`` None) or a version, the batcher's turn of the caller."""
    address = request.client.host if request.client else None
    spend(request.app.state, "predict", principal, address)
    serving: Serving = request.app.state.serving
    client = caller_id(principal, address)
    if version is None:
        return await serving.predict(texts, client)
    return await serving.predict_with(version, texts, client)


def json_of(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"Expected a JSON body: {error}.") from None


def text_of(value: Any, where: str) -> str:
    """A review's text: a string of valid Unicode (as ``/v1/predict`` takes it)."""
    if not isinstance(value, str):
        raise ProtocolError(
            f"{where}: expected a string (a review's text), received {kind_of(value)}."
        )
    try:
        return TEXT.validate_python(value)
    except ValidationError as error:
        raise ProtocolError(f"{where}: {error.errors()[0]['msg']}.") from None


def kind_of(value: Any) -> str:
    """A JSON value's kind, for an error message."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")
