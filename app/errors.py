"""JSON errors that say what was expected and what was received.

Every error answers ``{"error": {"code", "message", "details"}}``; a request
that fails validation lists each bad field with the message and the value
received. Nothing answers a bare 500 with a trace.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"field", "message", "received"}``; the field path without
    FastAPI's ``body`` prefix, so it names the spec field as the client wrote it."""
    details = []
    for error in errors:
        if error.get("type") == "json_invalid":
            position = error.get("loc", ("body", "?"))[-1]
            reason = error.get("ctx", {}).get("error", "JSON decode error")
            details.append(
                {
                    "field": "(body)",
                    "message": f"expected a JSON body; it is not valid JSON ({reason}, "
                    f"at character {position})",
                    "received": None,
                }
            )
            continue
        location = [str(part) for part in error.get("loc", ())]
        if location and location[0] == "body":
            location = location[1:]
        details.append(
            {
                "field": ".".join(location) or "(body)",
                "message": error.get("msg", ""),
                "received": error.get("input"),
            }
        )
    return details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            jsonable_encoder(error_body(error.code, error.message, error.details)),
            status_code=error.status,
            headers=error.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        details = field_errors(error.errors())
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        body = error_body("invalid_request", f"The request is invalid: {summary}", details)
        return JSONResponse(
            jsonable_encoder(body, custom_encoder={float: _finite}), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if error.status_code == 404 else f"http_{error.status_code}"
        return JSONResponse(
            error_body(code, str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, error: Exception) -> JSONResponse:
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, error)
        return JSONResponse(
            error_body(
                "database_unavailable",
                "The database is unreachable right now; nothing was changed. Retry shortly.",
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "The server failed to handle the request; it is logged."),
            status_code=500,
        )


def _finite(value: float) -> float | str:
    """NaN and infinities are not JSON: echo them back as strings."""
    return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
