"""schemathesis against the running service's own /openapi.json: no input gets a
5xx, and every answer fits the schema the service publishes (status code, content
type, headers, body); endpoints declared as needing a key refuse calls without
one, and schema-invalid input is refused with a 4xx.

A real API process on SQLite with a real model registered, so predict answers
for real. Every operation is reached with an admin key and gets a bounded number
of examples.

One check is left out: ``positive_data_acceptance`` (schema-valid input must be
accepted). The schema cannot express this server's own admission rules, which
answer 422 by design: recurrent-only fields on a dense network, vectors files
from the server's list, and the operator's limits (texts per request, spec bounds).
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from app.main import create_app
from tests.support.services import ADMIN_KEY
from tests.support.serving import serving_api, wait_until

EXAMPLES_PER_OPERATION = 40
PATHS = create_app(migrate=False).openapi()["paths"]
CASES = [
    (method.upper(), path, mode)
    for path, operations in PATHS.items()
    for method, operation in operations.items()
    for mode in GenerationMode
    # An operation without parameters or a body has no schema-breaking input to make.
    if mode == GenerationMode.POSITIVE or {"parameters", "requestBody"} & set(operation)
]


@pytest.fixture(scope="module")
def service(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API with a real model registered and serving as champion; its URL."""
    with serving_api(exported, tmp_path_factory.mktemp("fuzz")) as api:
        version = api.register(0.8)
        wait_until(lambda: api.serving_version() == version, 60, "the model serves")
        yield api.url


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES]
)
def test_no_input_gets_a_5xx_or_an_answer_off_the_schema(service, method, path, mode):
    """Positive (schema-valid) and negative (schema-breaking) examples alike."""
    # The key goes through the schema's own security scheme ("apiKey"), so negative
    # examples that drop or break it are known to schemathesis as auth failures.
    config = SchemathesisConfig.from_str(f'[auth.openapi.apiKey]\nbearer = "{ADMIN_KEY}"\n')
    schema = schemathesis.openapi.from_url(f"{service}/openapi.json", config=config)
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=service, excluded_checks=[positive_data_acceptance])

    fuzz()


def test_every_operation_is_fuzzed_the_summary_included(service):
    """The cases the fuzz test is parametrized with (read back from its mark) against
    the operations of the document the running service publishes, the one schemathesis
    fuzzes (the cases were built at import time from an application of this process)."""
    (mark,) = [
        mark
        for mark in test_no_input_gets_a_5xx_or_an_answer_off_the_schema.pytestmark
        if mark.name == "parametrize"
    ]
    modes: dict[tuple[str, str], set[GenerationMode]] = {}
    for method, path, mode in mark.args[1]:
        modes.setdefault((method, path), set()).add(mode)

    published = httpx.get(f"{service}/openapi.json", timeout=10).json()["paths"]
    operations = {
        (method.upper(), path): operation
        for path, methods in published.items()
        for method, operation in methods.items()
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert len(operations) > 20
    assert set(modes) == set(operations)
    for key, operation in operations.items():
        takes_input = bool({"parameters", "requestBody"} & set(operation))
        expected = {GenerationMode.POSITIVE} | ({GenerationMode.NEGATIVE} if takes_input else set())
        assert modes[key] == expected, key
    assert modes[("POST", "/v1/specs/summary")] == {
        GenerationMode.POSITIVE,
        GenerationMode.NEGATIVE,
    }
