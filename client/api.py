"""The service's API over httpx, with errors turned into messages and exit codes."""

from typing import Any

import httpx

# Exit codes: what a script calling ``sentiment`` can tell apart.
OK, FAILED, USAGE, AUTH, NOT_FOUND, UNAVAILABLE = 0, 1, 2, 3, 4, 5


class ClientError(Exception):
    def __init__(self, message: str, code: int, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.details = message, code, details or []


def _code_for(status: int) -> int:
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
        raise ClientError(message, _code_for(response.status_code), details)
