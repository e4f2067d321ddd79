"""With the database unreachable the API answers 503 with a JSON error, not a 500."""

from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import reset_caches
from tests.services import ADMIN, ADMIN_KEY


def test_requests_get_503_while_the_database_is_down(tmp_path, monkeypatch):
    # Nothing listens on port 1: every connection attempt fails at once.
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    monkeypatch.setenv("SENTIMENT_BROKER_URL", f"sqla+sqlite:///{tmp_path}/broker.sqlite")
    monkeypatch.setenv("SENTIMENT_CHAMPION_POLL_SECONDS", "300")
    monkeypatch.setenv("SENTIMENT_ADMIN_KEY", ADMIN_KEY)  # checked without the database
    reset_caches()
    try:
        with TestClient(
            create_app(migrate=False), raise_server_exceptions=False, headers=ADMIN
        ) as client:
            for method, path, body in (
                ("POST", "/v1/jobs", {"name": "x"}),
                ("GET", "/v1/jobs", None),
                ("GET", "/v1/models", None),
            ):
                answer = client.request(method, path, json=body)
                assert answer.status_code == 503, (path, answer.text)
                assert answer.json()["error"]["code"] == "database_unavailable"
                assert answer.headers["retry-after"] == "5"
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"]["ok"] is False
    finally:
        reset_caches()
