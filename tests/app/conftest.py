"""The API in process (FastAPI's TestClient) on a fresh SQLite database and broker."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app import db
from app.jobs import queue
from app.main import create_app
from app.settings import get_settings
from tests.services import ADMIN, ADMIN_KEY


def reset_caches() -> None:
    """Settings, engine and broker client are built once per process; tests change them."""
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    for cached in (get_settings, db.get_engine, db.get_session_factory, queue.celery_client):
        cached.cache_clear()


@pytest.fixture
def api(tmp_path, monkeypatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", f"sqlite:///{tmp_path}/sentiment.sqlite")
    monkeypatch.setenv("SENTIMENT_BROKER_URL", f"sqla+sqlite:///{tmp_path}/broker.sqlite")
    monkeypatch.setenv("SENTIMENT_MODELS_STORE", str(tmp_path / "models_store"))
    monkeypatch.setenv("SENTIMENT_DATA_DIR", str(tmp_path / "data"))  # caches of this test only
    monkeypatch.setenv("SENTIMENT_PREDICT_MAX_TEXTS", "3")
    monkeypatch.setenv("SENTIMENT_PREDICT_MAX_CHARS", "50")
    monkeypatch.setenv("SENTIMENT_ADMIN_KEY", ADMIN_KEY)
    reset_caches()
    with TestClient(create_app(), headers=ADMIN) as client:
        yield client
    reset_caches()


def without_key(client: TestClient) -> TestClient:
    """The same running app, sending no key. It shares ``client``'s event loop: a second
    loop would await the serving state's asyncio objects from the wrong loop, and hang."""
    anonymous = TestClient(client.app)
    anonymous.portal = client.portal
    return anonymous
