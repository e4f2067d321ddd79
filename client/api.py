"""The service's API over httpx, with errors turned into messages and exit codes.

An error's exit code follows its ``code`` (the service's closed ``ErrorCode`` set),
not its HTTP status: the code says what went wrong, where a status lumps, say, a
finished job in with a reused Idempotency-Key. Only an answer without a code the
client knows (a proxy's 502 page, a newer server's code) falls back on the status.
"""

from typing import Any

import httpx

from app.core.errors import ErrorCode

# Exit codes: what a script calling ``sentiment`` can tell apart.
OK, FAILED, USAGE, AUTH, NOT_FOUND, UNAVAILABLE = 0, 1, 2, 3, 4, 5

EXIT_CODES: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHORIZED: AUTH,
    ErrorCode.FORBIDDEN: AUTH,
    ErrorCode.NOT_FOUND: NOT_FOUND,
    ErrorCode.JOB_NOT_FOUND: NOT_FOUND,
    ErrorCode.SWEEP_NOT_FOUND: NOT_FOUND,
    ErrorCode.MODEL_NOT_FOUND: NOT_FOUND,
    ErrorCode.ALIAS_NOT_FOUND: NOT_FOUND,
    ErrorCode.KEY_NOT_FOUND: NOT_FOUND,
    ErrorCode.RECIPE_NOT_FOUND: NOT_FOUND,
    ErrorCode.WORD_NOT_FOUND: NOT_FOUND,
    ErrorCode.METHOD_NOT_ALLOWED: FAILED,  # the client and the server disagree
    ErrorCode.IDEMPOTENCY_KEY_REUSED: USAGE,
    ErrorCode.JOB_FINISHED: USAGE,
    ErrorCode.NO_DIAGNOSIS: USAGE,
    ErrorCode.OWN_KEY: USAGE,
    ErrorCode.LAST_ADMIN_KEY: USAGE,
    ErrorCode.VECTORS_NOT_TRAINED: USAGE,
    ErrorCode.ENSEMBLE_HAS_NO_EMBEDDING: USAGE,
    ErrorCode.VOCABULARY_NOT_EXPORTED: USAGE,
    ErrorCode.NO_EMBEDDING: USAGE,
    ErrorCode.NOT_EXPLAINABLE: USAGE,
    ErrorCode.BODY_TOO_LARGE: USAGE,
    ErrorCode.INVALID_REQUEST: USAGE,
    ErrorCode.SPEC_NOT_ADMITTED: USAGE,
    ErrorCode.INVALID_ENSEMBLE: USAGE,
    ErrorCode.TOO_MANY_TEXTS: USAGE,
    ErrorCode.TEXT_TOO_LONG: USAGE,
    ErrorCode.SWEEP_TOO_LARGE: USAGE,
    ErrorCode.RATE_LIMITED: UNAVAILABLE,
    ErrorCode.QUEUE_QUOTA_EXCEEDED: UNAVAILABLE,
    ErrorCode.INTERNAL_ERROR: FAILED,
    ErrorCode.NO_MODEL: UNAVAILABLE,
    ErrorCode.MODEL_UNAVAILABLE: UNAVAILABLE,
    ErrorCode.MODEL_SWAPPING: UNAVAILABLE,
    ErrorCode.OVERLOADED: UNAVAILABLE,
    ErrorCode.DATABASE_UNAVAILABLE: UNAVAILABLE,
    ErrorCode.STORE_UNAVAILABLE: UNAVAILABLE,
}


class ClientError(Exception):
    def __init__(self, message: str, code: int, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.details = message, code, details or []


def exit_code_for(code: Any, status: int) -> int:
    """The exit code for an error answer: by its ``code`` (whatever the JSON held) when
    the client knows it, else by its HTTP ``status``."""
    try:
        return EXIT_CODES[ErrorCode(code)]
    except ValueError:  # no code (not the service's answer), or one newer than this client
        return _exit_code_by_status(status)


def _exit_code_by_status(status: int) -> int:
    if status in (401, 403):
        return AUTH
    if status == 404:
        return NOT_FOUND
    if status in (400, 409, 413, 422):
        return USAGE
    if status in (429, 502, 503, 504):
        return UNAVAILABLE
    return FAILED


class Api:
    def __init__(self, url: str, key: str | None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise ClientError(
                f"cannot reach the service at {self.url} ({error}); is it running? "
                "Set --url or SENTIMENT_URL.",
                UNAVAILABLE,
            ) from error
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            return body
        info = body.get("error", {}) if isinstance(body, dict) else {}
        info = info if isinstance(info, dict) else {}
        message = info.get("message") or f"HTTP {response.status_code}"
        if response.status_code == 401:
            message += " Pass --key or set SENTIMENT_KEY."
        if response.status_code == 429 and "retry-after" in response.headers:
            message += f" (retry after {response.headers['retry-after']} s)"
        details = [
            f"{d.get('field')}: {d.get('message')}"
            + (f" (received {d['received']!r})" if d.get("received") is not None else "")
            for d in info.get("details", [])
        ]
        raise ClientError(message, exit_code_for(info.get("code"), response.status_code), details)
