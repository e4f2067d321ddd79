"""The registry's routes over a bucket that does not answer: a clear 503, at once,
never a hang; an admin's /readyz names the bucket and the endpoint."""

from tests.support.api import app_settings, running_app, without_key
from tests.support.services import free_port


def test_an_unreachable_bucket_answers_503_store_unavailable(tmp_path, monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}.items():
        monkeypatch.setenv(name, value)
    settings = app_settings(
        tmp_path,
        models_store="s3://models/sentiment",
        store_endpoint_url=endpoint,
        models_cache=tmp_path / "cache",
    )
    with running_app(settings) as api:
        answer = api.get("/v1/models")
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "store_unavailable"
        assert endpoint not in answer.text  # where the store is stays the operator's
        assert answer.headers["retry-after"] == "5"

        ready = api.get("/readyz")  # no champion loaded: the store counts
        assert ready.status_code == 503
        store = ready.json()["checks"]["store"]
        assert not store["ok"] and store["where"] == f"s3://models/sentiment/ at {endpoint}"
        assert "s3://models/sentiment/" in store["error"] and endpoint in store["error"]
        anonymous = without_key(api).get("/readyz").json()["checks"]["store"]
        assert anonymous == {"ok": False}
