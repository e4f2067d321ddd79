"""With the database unreachable the API answers 503 with a JSON error, not a 500."""

from fastapi.testclient import TestClient

from app.main import create_app
from tests.support.api import app_settings
from tests.support.services import ADMIN


def test_requests_get_503_while_the_database_is_down(tmp_path):
    settings = app_settings(
        tmp_path,
        # Nothing listens on port 1: every connection attempt fails at once.
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none",
        champion_poll_seconds=300,
    )  # the operator's admin key is checked without the database
    with TestClient(
        create_app(settings, migrate=False), raise_server_exceptions=False, headers=ADMIN
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
        # The predict hot path answers the same, headers included, for a key that
        # must be looked up.
        predicted = client.post(
            "/v1/predict",
            json={"texts": ["Fine."]},
            headers={"Authorization": "Bearer snt_notcached_key", "X-Request-ID": "down-1"},
        )
        assert predicted.status_code == 503, predicted.text
        assert predicted.json()["error"]["code"] == "database_unavailable"
        assert predicted.headers["retry-after"] == "5"
        assert predicted.headers["x-request-id"] == "down-1"
        assert "content-security-policy" in predicted.headers
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
