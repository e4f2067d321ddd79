"""The ``api`` fixture: the API in process on a fresh SQLite database and broker
(``tests/support/api.py``)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import app_settings, running_app


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = app_settings(
        tmp_path,
        data_dir=tmp_path / "data",  # caches of this test only
        predict_max_texts=3,
        predict_max_chars=50,
    )
    with running_app(settings) as client:
        yield client
