"""The client's exit codes: by the error's code, and by the HTTP status only for an
answer without a code the client knows (no server: httpx's mock transport)."""

from typing import Any

import httpx
import pytest

from app.core.errors import ErrorCode
from client.api import (
    AUTH,
    EXIT_CODES,
    FAILED,
    NOT_FOUND,
    UNAVAILABLE,
    USAGE,
    Api,
    ClientError,
    exit_code_for,
)


def test_every_code_has_an_exit_code():
    assert set(EXIT_CODES) == set(ErrorCode)
    assert set(EXIT_CODES.values()) <= {FAILED, USAGE, AUTH, NOT_FOUND, UNAVAILABLE}


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        (ErrorCode.UNAUTHORIZED, AUTH),
        (ErrorCode.FORBIDDEN, AUTH),
        (ErrorCode.JOB_NOT_FOUND, NOT_FOUND),
        (ErrorCode.NOT_FOUND, NOT_FOUND),
        (ErrorCode.INVALID_REQUEST, USAGE),
        (ErrorCode.JOB_FINISHED, USAGE),
        (ErrorCode.RATE_LIMITED, UNAVAILABLE),
        (ErrorCode.DATABASE_UNAVAILABLE, UNAVAILABLE),
        (ErrorCode.INTERNAL_ERROR, FAILED),
    ],
)
def test_the_code_decides(code: ErrorCode, exit_code: int):
    assert exit_code_for(code.value, 200) == exit_code  # whatever the status says


def answering(status: int, content: bytes, **headers: str) -> Api:
    api = Api("http://sentiment.test", key=None)
    api.http = httpx.Client(
        base_url=api.url,
        transport=httpx.MockTransport(
            lambda request: httpx.Response(status, content=content, headers=headers)
        ),
    )
    return api


def raised(api: Api) -> ClientError:
    with pytest.raises(ClientError) as caught:
        api.call("GET", "/v1/jobs/x")
    return caught.value


def error(code: Any, message: str = "No job with id 'x'.") -> bytes:
    return httpx.Response(
        200, json={"error": {"code": code, "message": message, "details": []}}
    ).content


def test_an_error_answer_exits_by_its_code():
    failure = raised(answering(404, error("job_not_found")))
    assert (failure.code, failure.message) == (NOT_FOUND, "No job with id 'x'.")
    busy = raised(answering(429, error("queue_quota_exceeded", "Full."), **{"Retry-After": "30"}))
    assert (busy.code, busy.message) == (UNAVAILABLE, "Full. (retry after 30 s)")


def test_an_answer_without_a_known_code_exits_by_its_status():
    assert raised(answering(502, b"<html>Bad Gateway</html>")).code == UNAVAILABLE
    assert raised(answering(404, error("a_code_newer_than_this_client"))).code == NOT_FOUND
    assert raised(answering(401, b'{"error": "no key"}')).code == AUTH
    assert raised(answering(500, b"")).code == FAILED
