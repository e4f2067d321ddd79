"""The API in process (FastAPI's TestClient) on a fresh SQLite database and broker.

Each test builds its own application from its own ``Settings``: the engine, the
broker client and the caches live on that application, so nothing is shared
between tests and nothing needs resetting."""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.settings import Settings
from app.main import create_app
from tests.support.services import ADMIN, ADMIN_KEY
from tests.support.serving import register_copy, wait_until


def app_settings(tmp_path: Path, **fields: Any) -> Settings:
    """Settings for an API on a SQLite database and broker in ``tmp_path``, with the
    operator's admin key; ``fields`` override any of them."""
    defaults: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/sentiment.sqlite",
        "broker_url": f"sqla+sqlite:///{tmp_path}/broker.sqlite",
        "models_store": tmp_path / "models_store",
        "admin_key": ADMIN_KEY,
    }
    return Settings(**(defaults | fields))


@contextmanager
def running_app(settings: Settings, **client: Any) -> Iterator[TestClient]:
    """The API on ``settings``, started (migrated, serving), sending the admin key."""
    with TestClient(create_app(settings), **({"headers": ADMIN} | client)) as api:
        yield api


def session_of(api: TestClient) -> AbstractContextManager[Session]:
    """A committed session on the running app's database, as a worker would write."""
    scope: AbstractContextManager[Session] = api.app.state.db.session_scope()  # type: ignore[attr-defined]
    return scope


def without_key(client: TestClient) -> TestClient:
    """The same running app, sending no key. It shares ``client``'s event loop: a second
    loop would await the serving state's asyncio objects from the wrong loop, and hang."""
    anonymous = TestClient(client.app)
    anonymous.portal = client.portal
    return anonymous


def settings_of(api: TestClient) -> Settings:
    settings: Settings = api.app.state.settings  # type: ignore[attr-defined]
    return settings


def serve_copy(api: TestClient, exported: Path, accuracy: float = 0.8) -> int:
    """Register a copy of the ``exported`` model and wait until this app serves it."""
    settings = settings_of(api)
    version = register_copy(settings.database_url, settings.models_store, exported, accuracy)

    def serving() -> bool:
        champion = api.get("/readyz").json()["checks"]["champion"]
        return bool(champion.get("serving_version") == version)

    wait_until(serving, 60, "the model serves")
    return version


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key(api: TestClient, *scopes: str, name: str = "k") -> str:
    answer = api.post("/v1/keys", json={"name": name, "scopes": list(scopes)})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])
