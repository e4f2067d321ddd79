"""Where a real component the tests need is missing: skip with a message, or fail
where CI requires every one (``CI=true`` or ``SENTIMENT_REQUIRE_SERVICES=1``)."""

import os
from typing import NoReturn

import pytest

REQUIRED = os.environ.get("CI") == "true" or os.environ.get("SENTIMENT_REQUIRE_SERVICES") == "1"


def missing(what: str) -> NoReturn:
    """Skip the test, or fail it where CI requires every real component."""
    if REQUIRED:
        pytest.fail(f"{what} (required here: CI=true or SENTIMENT_REQUIRE_SERVICES=1)")
    pytest.skip(what)
