"""The HTTP edge of errors: each domain error's status, and JSON bodies that say what
was expected and what was received.

Every error answers ``{"error": {"code", "message", "details"}}``; a request
that fails validation lists each bad field with the message and the value
received. Nothing answers a bare 500 with a trace.
"""

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooMany,
    Unauthenticated,
    Unavailable,
    field_errors,
    field_summary,
)

logger = logging.getLogger(__name__)


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable and machine-readable: not_found, unauthorized, ...")
    message: str = Field(description="What was expected and what was received.")
    details: list[dict[str, Any]] = Field(
        description="For an invalid request, each bad field: field, message, received."
    )


class ErrorOut(BaseModel):
    error: ErrorInfo


ERROR_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one (WWW-Authenticate: Bearer).",
    403: "The key lacks the scope this endpoint needs.",
    404: "No such resource, or not one this key may see.",
    409: "The request conflicts with the resource's state.",
    413: "The body is larger than SENTIMENT_MAX_BODY_BYTES.",
    422: "Invalid request: each bad field with its message and the value received.",
    429: "Too many requests or queued jobs for this key; retry after Retry-After seconds.",
    503: "The database is unreachable, or no model can serve; retry after Retry-After seconds.",
}


def error_responses(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes, all with the ``ErrorOut`` body;
    ``described`` (``e404="No such job."``) overrides the standard descriptions."""
    return {
        code: {
            "model": ErrorOut,
            "description": described.get(f"e{code}", ERROR_DESCRIPTIONS[code]),
        }
        for code in codes
    }


STATUS: dict[type[DomainError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    TooMany: 429,
    Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error: its kind's, or its nearest base kind's."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def headers_of(error: DomainError) -> dict[str, str] | None:
    if isinstance(error, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    retry_after = getattr(error, "retry_after", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else None


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


class ErrorResponse(JSONResponse):
    """JSON with non-ASCII escaped, and NaN or infinity as strings: an error may echo
    back what was received (half a surrogate pair, a NaN), and must still be sent."""

    def render(self, content: Any) -> bytes:
        content = jsonable_encoder(content, custom_encoder={float: _finite})  # NaN echoed back
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _raised(request: Request, error: Exception) -> JSONResponse:
        return error_response(error, request.method, request.url.path, None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        details = field_errors(error.errors())
        body = error_body(
            "invalid_request", f"The request is invalid: {field_summary(details)}", details
        )
        return ErrorResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and "parsing the body" in str(error.detail):
            # A body that is not text (not UTF-8) is as invalid as malformed JSON: 422.
            detail = {
                "field": "(body)",
                "message": "expected a JSON body in UTF-8; it could not be decoded",
                "received": None,
            }
            return ErrorResponse(
                error_body("invalid_request", f"The request is invalid: {detail['message']}",
                           [detail]),
                status_code=422,
            )  # fmt: skip
        if error.status_code == 405:
            return _method_not_allowed(request, error)
        code = "not_found" if error.status_code == 404 else f"http_{error.status_code}"
        return ErrorResponse(
            error_body(code, str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # Starlette answers this outside every middleware: the request's id comes from
        # the scope, where RequestIds left it.
        return error_response(
            error, request.method, request.url.path, request.scope.get("request_id")
        )


def error_response(
    error: Exception, method: str, path: str, request_id: str | None
) -> ErrorResponse:
    """The answer to an error raised while handling a request: a domain error's own, 503
    while the database is unreachable, else a logged 500 (``request_id`` in its headers:
    it is answered outside the middleware that adds it)."""
    if isinstance(error, DomainError):
        return ErrorResponse(
            error_body(error.code, error.message, error.details),
            status_code=status_of(error),
            headers=headers_of(error),
        )
    if isinstance(error, OperationalError | InterfaceError):
        logger.warning("database unavailable on %s %s: %s", method, path, error)
        return ErrorResponse(
            error_body(
                "database_unavailable",
                "The database is unreachable right now; nothing was changed. Retry shortly.",
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    logger.error(
        "unhandled error on %s %s: %s: %s",
        method,
        path,
        type(error).__name__,
        str(error)[:500],
        extra={"request_id": request_id},
    )
    return ErrorResponse(
        error_body("internal_error", "The server failed to handle the request; it is logged."),
        status_code=500,
        headers={"X-Request-ID": request_id} if request_id else None,
    )


def _method_not_allowed(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """405 with every method the path takes: Starlette names only those of the first
    route whose path matched, and ``GET /v1/jobs`` and ``POST /v1/jobs`` are two routes.
    The API's own description knows them all."""
    allowed: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        if re.fullmatch(pattern, request.url.path):
            allowed |= {method.upper() for method in operations}
    if "GET" in allowed:
        allowed.add("HEAD")
    methods = ", ".join(sorted(allowed)) or (error.headers or {}).get("Allow", "")
    return ErrorResponse(
        error_body(
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}; it takes {methods}.",
        ),
        status_code=405,
        headers={"Allow": methods},
    )


def _finite(value: float) -> float | str:
    """NaN and infinities are not JSON: echo them back as strings."""
    return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
