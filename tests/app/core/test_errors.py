"""The error catalogue, checked: every code has a status, a meaning and advice; the
OpenAPI document and docs/errors.md list them all; and no code is made up where an
error is built (a string there would reach the wire uncatalogued)."""

import ast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import (
    ADVICE,
    DESCRIPTIONS,
    Conflict,
    ErrorCode,
    Forbidden,
    Invalid,
    ModelNotFound,
    NotFound,
    TooMany,
    Unauthenticated,
    Unavailable,
    invalid_fields,
)
from app.http.errors import STATUS, error_body, install_error_handlers, with_catalogue
from app.main import create_app
from tests.support.api import app_settings
from tests.support.services import PROJECT

# The status each kind of domain error stands for: a kind raises only codes of its status.
KIND_STATUS = {
    "Unauthenticated": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "Conflict": 409,
    "Invalid": 422,
    "invalid_fields": 422,
    "TooMany": 429,
    "Unavailable": 503,
}
# Whatever takes a code as its first argument (or ``code=``).
CODED = {*KIND_STATUS, "DomainError", "error_body", "error_answer"}


def test_every_code_has_a_status_a_meaning_and_advice():
    codes = set(ErrorCode)
    assert set(STATUS) == codes
    assert set(DESCRIPTIONS) == codes
    assert set(ADVICE) == codes
    assert all(400 <= status < 600 for status in STATUS.values())
    for code in ErrorCode:  # one line each: they are table cells
        assert DESCRIPTIONS[code] and "\n" not in DESCRIPTIONS[code] + ADVICE[code]
        assert "|" not in DESCRIPTIONS[code] + ADVICE[code]


def test_the_openapi_document_lists_every_code_with_its_status(tmp_path):
    document = create_app(app_settings(tmp_path), migrate=False).openapi()
    schemas = document["components"]["schemas"]
    assert schemas["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    code_field = schemas["ErrorInfo"]["properties"]["code"]
    assert code_field["$ref"] == "#/components/schemas/ErrorCode"
    for code in ErrorCode:
        assert f"| `{code}` | {STATUS[code]} | {DESCRIPTIONS[code]} |" in code_field["description"]


def test_docs_errors_md_shows_the_catalogue():
    written = (PROJECT / "docs" / "errors.md").read_text()
    assert with_catalogue(written) == written, (
        "docs/errors.md differs from the catalogue: run "
        ".venv/bin/python -m app.http.errors docs/errors.md"
    )


def test_a_domain_error_takes_only_a_catalogued_code():
    assert NotFound(ErrorCode.JOB_NOT_FOUND, "No job.").code is ErrorCode.JOB_NOT_FOUND
    for build in (
        lambda: NotFound("no_such_code", "x"),  # type: ignore[arg-type]
        lambda: TooMany("too_busy", "x", retry_after=1),  # type: ignore[arg-type]
        lambda: Unavailable("http_503", "x"),  # type: ignore[arg-type]
        lambda: invalid_fields("bad", "x", []),  # type: ignore[arg-type]
        lambda: error_body("http_418", "x"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError):
            build()


def test_each_kind_answers_its_own_status():
    for kind, code in (
        (Unauthenticated, ErrorCode.UNAUTHORIZED),
        (Forbidden, ErrorCode.FORBIDDEN),
        (NotFound, ErrorCode.JOB_NOT_FOUND),
        (Conflict, ErrorCode.JOB_FINISHED),
        (Invalid, ErrorCode.INVALID_REQUEST),
    ):
        assert STATUS[kind(code, "x").code] == KIND_STATUS[kind.__name__]
    assert STATUS[ModelNotFound(3).code] == 404
    assert STATUS[TooMany(ErrorCode.RATE_LIMITED, "x", retry_after=1).code] == 429
    assert STATUS[Unavailable(ErrorCode.NO_MODEL, "x").code] == 503


def code_problems(source: str, where: str) -> list[str]:
    """Each call in ``source`` that builds an error with a string for its code, or with
    a member ``ErrorCode`` does not have; and each kind raising a code of another
    status (``NotFound`` with a 409 code, say)."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in CODED:
            continue
        given = [kw.value for kw in node.keywords if kw.arg == "code"] or node.args[:1]
        if not given:
            continue
        code, line = given[0], f"{where}:{node.lineno}"
        if isinstance(code, ast.Constant | ast.JoinedStr):
            problems.append(f"{line}: {name}() given a string, not an ErrorCode member")
        elif (
            isinstance(code, ast.Attribute)
            and isinstance(code.value, ast.Name)
            and code.value.id == "ErrorCode"
        ):
            member = ErrorCode.__members__.get(code.attr)
            if member is None:
                problems.append(f"{line}: ErrorCode has no {code.attr}")
            elif name in KIND_STATUS and STATUS[member] != KIND_STATUS[name]:
                problems.append(f"{line}: {name}() given {member} (status {STATUS[member]})")
    return problems


def test_no_error_is_built_with_a_made_up_code():
    problems = []
    for package in ("app", "worker", "client"):
        for path in sorted((PROJECT / package).rglob("*.py")):
            problems += code_problems(path.read_text(), str(path.relative_to(PROJECT)))
    assert problems == []


def test_the_check_sees_a_string_an_unknown_member_and_a_kind_s_wrong_status():
    source = (
        'raise NotFound("job_not_found", "x")\n'
        'raise errors.Conflict(f"{kind}_missing", "x")\n'
        'body = error_body(code="made_up", message="x")\n'
        'raise Invalid(ErrorCode.NO_SUCH_MEMBER, "x")\n'
        'raise NotFound(ErrorCode.JOB_FINISHED, "x")\n'
        'raise NotFound(ErrorCode.JOB_NOT_FOUND, "x")\n'  # the one right call
        "raise Invalid(error.code, error.message)\n"  # a code passed on: not a literal
    )
    problems = code_problems(source, "x.py")
    assert [problem.split(":")[1] for problem in problems] == ["1", "2", "3", "4", "5"]


def test_a_status_the_framework_raises_without_a_code_answers_internal_error():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/teapot")
    def teapot() -> None:
        raise StarletteHTTPException(status_code=418)

    with TestClient(app, raise_server_exceptions=False) as client:
        missing = client.get("/nowhere")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
        refused = client.post("/teapot")
        assert refused.json()["error"]["code"] == "method_not_allowed"
        assert refused.status_code == 405
        answer = client.get("/teapot")
        assert answer.status_code == 500
        assert answer.json()["error"]["code"] == "internal_error"
