"""Domain errors: what went wrong, said in the service's terms, never in HTTP's.

Services and repositories raise these; the HTTP edge (``app/http/errors.py``) maps
each kind to its status and the ``{"error": {"code", "message", "details"}}`` body.
Each carries a stable machine-readable ``code``, a message that says what was
expected and what was received, and, for invalid input, each bad field as
``{"field", "message", "received"}``.
"""

from collections.abc import Iterable, Sequence
from typing import Any

FieldDetail = dict[str, Any]


class DomainError(Exception):
    def __init__(self, code: str, message: str, details: Sequence[FieldDetail] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details)


class NotFound(DomainError):
    """No such thing, or not one the caller may see (so ids cannot be probed)."""


class Conflict(DomainError):
    """The request conflicts with the thing's state (a finished job, a reused key)."""


class Invalid(DomainError):
    """The input breaks a rule; ``details`` names each bad field."""


class TooMany(DomainError):
    """Over a rate or a quota; worth retrying after ``retry_after`` seconds."""

    def __init__(
        self, code: str, message: str, retry_after: int, details: Sequence[FieldDetail] = ()
    ) -> None:
        super().__init__(code, message, details)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Something the request needs is not there right now (no model, the database)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class Unauthenticated(DomainError):
    """No key, or an unknown or revoked one."""


class Forbidden(DomainError):
    """The key is known but lacks the scope."""


class ModelNotFound(NotFound):
    def __init__(self, version: int) -> None:
        super().__init__("model_not_found", f"No model version {version}.")


def field_summary(details: Iterable[FieldDetail], most: int | None = 5) -> str:
    """``"field: message; field: message"``, for the message above the details."""
    shown = list(details)[:most] if most is not None else list(details)
    return "; ".join(f"{detail['field']}: {detail['message']}" for detail in shown)


def field_errors(errors: Iterable[Any]) -> list[FieldDetail]:
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


def invalid_fields(code: str, lead: str, details: list[FieldDetail]) -> Invalid:
    """An ``Invalid`` whose message is ``lead`` and a summary of the bad fields."""
    return Invalid(code, f"{lead}: {field_summary(details)}", details)
