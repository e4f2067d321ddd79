"""Domain errors: what went wrong, said in the service's terms, never in HTTP's.

Services and repositories raise these; the HTTP edge (``app/http/errors.py``) gives
each code its status and the ``{"error": {"code", "message", "details"}}`` body.
Each carries a code from the closed ``ErrorCode`` set (clients branch on it, so a
code is never made up at a raise site), a message that says what was expected and
what was received, and, for invalid input, each bad field as
``{"field", "message", "received"}``.
"""

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

FieldDetail = dict[str, Any]


class ErrorCode(StrEnum):
    """Every code an error answer may carry: a closed set, so clients can rely on it."""

    # The key
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    # No such thing (or not one this key may see)
    NOT_FOUND = "not_found"
    JOB_NOT_FOUND = "job_not_found"
    SWEEP_NOT_FOUND = "sweep_not_found"
    MODEL_NOT_FOUND = "model_not_found"
    ALIAS_NOT_FOUND = "alias_not_found"
    KEY_NOT_FOUND = "key_not_found"
    RECIPE_NOT_FOUND = "recipe_not_found"
    WORD_NOT_FOUND = "word_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # In conflict with the thing's state
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    JOB_FINISHED = "job_finished"
    NO_DIAGNOSIS = "no_diagnosis"
    OWN_KEY = "own_key"
    LAST_ADMIN_KEY = "last_admin_key"
    VECTORS_NOT_TRAINED = "vectors_not_trained"
    ENSEMBLE_HAS_NO_EMBEDDING = "ensemble_has_no_embedding"
    VOCABULARY_NOT_EXPORTED = "vocabulary_not_exported"
    NO_EMBEDDING = "no_embedding"
    NOT_EXPLAINABLE = "not_explainable"
    # The request breaks a rule
    BODY_TOO_LARGE = "body_too_large"
    INVALID_REQUEST = "invalid_request"
    SPEC_NOT_ADMITTED = "spec_not_admitted"
    INVALID_ENSEMBLE = "invalid_ensemble"
    TOO_MANY_TEXTS = "too_many_texts"
    TEXT_TOO_LONG = "text_too_long"
    SWEEP_TOO_LARGE = "sweep_too_large"
    # Over a limit for now
    RATE_LIMITED = "rate_limited"
    QUEUE_QUOTA_EXCEEDED = "queue_quota_exceeded"
    # The service, not the request
    INTERNAL_ERROR = "internal_error"
    NO_MODEL = "no_model"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_SWAPPING = "model_swapping"
    OVERLOADED = "overloaded"
    DATABASE_UNAVAILABLE = "database_unavailable"
    STORE_UNAVAILABLE = "store_unavailable"


# What each code means to a client, and what it should do about it: the OpenAPI
# document and docs/errors.md show both.
DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.UNAUTHORIZED: "No API key, or an unknown or revoked one.",
    ErrorCode.FORBIDDEN: "The key lacks the scope this endpoint needs.",
    ErrorCode.NOT_FOUND: "Nothing at this URL.",
    ErrorCode.JOB_NOT_FOUND: "No such job, or not one this key may see.",
    ErrorCode.SWEEP_NOT_FOUND: "No such sweep, or not one this key may see.",
    ErrorCode.MODEL_NOT_FOUND: "No such model version.",
    ErrorCode.ALIAS_NOT_FOUND: "No such alias is set.",
    ErrorCode.KEY_NOT_FOUND: "No API key with that id.",
    ErrorCode.RECIPE_NOT_FOUND: "No recipe with that name.",
    ErrorCode.WORD_NOT_FOUND: "A word is not in the vocabulary asked about.",
    ErrorCode.METHOD_NOT_ALLOWED: "The path does not take this method.",
    ErrorCode.IDEMPOTENCY_KEY_REUSED: "The Idempotency-Key was used for another spec.",
    ErrorCode.JOB_FINISHED: "The job has already ended, so it cannot be cancelled.",
    ErrorCode.NO_DIAGNOSIS: "The job has no diagnosis, so no follow-ups.",
    ErrorCode.OWN_KEY: "An admin key cannot revoke itself over HTTP.",
    ErrorCode.LAST_ADMIN_KEY: "The key is the last active admin key.",
    ErrorCode.VECTORS_NOT_TRAINED: "The imdb-word2vec vectors of that size are not trained.",
    ErrorCode.ENSEMBLE_HAS_NO_EMBEDDING: "An ensemble has no embedding of its own.",
    ErrorCode.VOCABULARY_NOT_EXPORTED: "The version was exported without its vocabulary.",
    ErrorCode.NO_EMBEDDING: "The version's network has no embedding layer.",
    ErrorCode.NOT_EXPLAINABLE: "The version was exported without the `explain` signature.",
    ErrorCode.BODY_TOO_LARGE: "The body is larger than SENTIMENT_MAX_BODY_BYTES.",
    ErrorCode.INVALID_REQUEST: "The request breaks a rule; `details` names each bad field.",
    ErrorCode.SPEC_NOT_ADMITTED: "A valid spec this server does not admit: limits, cost, vectors.",
    ErrorCode.INVALID_ENSEMBLE: "A member is not a registered version on disk.",
    ErrorCode.TOO_MANY_TEXTS: "More texts in one request than the server takes.",
    ErrorCode.TEXT_TOO_LONG: "A text longer than the server takes.",
    ErrorCode.SWEEP_TOO_LARGE: "More sweep points than the server takes.",
    ErrorCode.RATE_LIMITED: "Too many requests of this kind from this key (or address).",
    ErrorCode.QUEUE_QUOTA_EXCEEDED: "This key has as many jobs queued as it may.",
    ErrorCode.INTERNAL_ERROR: "The server failed; the error is logged.",
    ErrorCode.NO_MODEL: "No model is registered yet.",
    ErrorCode.MODEL_UNAVAILABLE: "The model to serve could not be loaded.",
    ErrorCode.MODEL_SWAPPING: "The model is being swapped or reloaded.",
    ErrorCode.OVERLOADED: "The texts would wait longer than SENTIMENT_PREDICT_MAX_WAIT_MS.",
    ErrorCode.DATABASE_UNAVAILABLE: "The database is unreachable; nothing was changed.",
    ErrorCode.STORE_UNAVAILABLE: "The models store (where versions live) is unreachable.",
}

ADVICE: dict[ErrorCode, str] = {
    ErrorCode.UNAUTHORIZED: "Send `Authorization: Bearer <key>` with a valid key.",
    ErrorCode.FORBIDDEN: "Use a key with the scope the message names.",
    ErrorCode.NOT_FOUND: "Check the URL against the API's paths (`/docs`).",
    ErrorCode.JOB_NOT_FOUND: "Check the id; `GET /v1/jobs` lists yours.",
    ErrorCode.SWEEP_NOT_FOUND: "Check the id; `GET /v1/sweeps` lists yours.",
    ErrorCode.MODEL_NOT_FOUND: "Check the version; `GET /v1/models` lists them.",
    ErrorCode.ALIAS_NOT_FOUND: "Nothing to unpin; `GET /v1/models` shows the aliases.",
    ErrorCode.KEY_NOT_FOUND: "Check the id; `GET /v1/keys` lists them.",
    ErrorCode.RECIPE_NOT_FOUND: "Use a name the message lists (`GET /v1/recipes`).",
    ErrorCode.WORD_NOT_FOUND: "Ask for another word, in lowercase.",
    ErrorCode.METHOD_NOT_ALLOWED: "Use a method the `Allow` header lists.",
    ErrorCode.IDEMPOTENCY_KEY_REUSED: "Use a new Idempotency-Key for a new job.",
    ErrorCode.JOB_FINISHED: "Nothing: the job has ended.",
    ErrorCode.NO_DIAGNOSIS: "Wait for the job to succeed (an ensemble has none).",
    ErrorCode.OWN_KEY: "Revoke it with another admin key, or `python -m app.auth`.",
    ErrorCode.LAST_ADMIN_KEY: "Make another admin key first.",
    ErrorCode.VECTORS_NOT_TRAINED: "Train a job with those vectors first.",
    ErrorCode.ENSEMBLE_HAS_NO_EMBEDDING: "Ask for one of its members.",
    ErrorCode.VOCABULARY_NOT_EXPORTED: "Ask for a newer version.",
    ErrorCode.NO_EMBEDDING: "Ask for a version with an embedding.",
    ErrorCode.NOT_EXPLAINABLE: "Ask a version trained since, or one of an ensemble's members.",
    ErrorCode.BODY_TOO_LARGE: "Send a smaller body.",
    ErrorCode.INVALID_REQUEST: "Fix the fields in `details`.",
    ErrorCode.SPEC_NOT_ADMITTED: "Change the fields in `details` to what the message says.",
    ErrorCode.INVALID_ENSEMBLE: "Replace the members `details` names (see `GET /v1/models`).",
    ErrorCode.TOO_MANY_TEXTS: "Split the texts over several requests.",
    ErrorCode.TEXT_TOO_LONG: "Shorten the text named in `details`.",
    ErrorCode.SWEEP_TOO_LARGE: "Sweep fewer points.",
    ErrorCode.RATE_LIMITED: "Retry after `Retry-After` seconds.",
    ErrorCode.QUEUE_QUOTA_EXCEEDED: "Retry after `Retry-After` seconds, or cancel a job.",
    ErrorCode.INTERNAL_ERROR: "Retry; if it persists, report the `X-Request-ID`.",
    ErrorCode.NO_MODEL: "Train one (`POST /v1/jobs`); retry once it succeeds.",
    ErrorCode.MODEL_UNAVAILABLE: "Retry later; an admin key sees why in `/readyz`.",
    ErrorCode.MODEL_SWAPPING: "Retry at once.",
    ErrorCode.OVERLOADED: "Retry after `Retry-After` seconds, or send fewer texts at once.",
    ErrorCode.DATABASE_UNAVAILABLE: "Retry after `Retry-After` seconds.",
    ErrorCode.STORE_UNAVAILABLE: "Retry after `Retry-After` seconds; an admin key sees why in "
    "`/readyz`.",
}


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str, details: Sequence[FieldDetail] = ()) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)  # a made-up string fails here, not on the wire
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
        self,
        code: ErrorCode,
        message: str,
        retry_after: int,
        details: Sequence[FieldDetail] = (),
    ) -> None:
        super().__init__(code, message, details)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Something the request needs is not there right now (no model, the database)."""

    def __init__(self, code: ErrorCode, message: str, retry_after: int | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class Unauthenticated(DomainError):
    """No key, or an unknown or revoked one."""


class Forbidden(DomainError):
    """The key is known but lacks the scope."""


class ModelNotFound(NotFound):
    def __init__(self, version: int) -> None:
        super().__init__(ErrorCode.MODEL_NOT_FOUND, f"No model version {version}.")


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


def invalid_fields(code: ErrorCode, lead: str, details: list[FieldDetail]) -> Invalid:
    """An ``Invalid`` whose message is ``lead`` and a summary of the bad fields."""
    return Invalid(code, f"{lead}: {field_summary(details)}", details)
