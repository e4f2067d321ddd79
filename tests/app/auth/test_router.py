"""API keys, scopes, ownership and per-key limits, on the API in process.

OWASP API Security Top 10 (2023): API1 object-level authorization (another
key's job), API2 authentication (no key, wrong key, revoked key), API4 resource
consumption (rate limits, queue quota, spec limits), API5 function-level
authorization (scopes).
"""

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.keys import KeyCache, Principal, revoke_key
from app.auth.models import ApiKey, Scope
from app.main import create_app
from tests.support.api import app_settings, bearer, new_key, running_app, session_of, without_key
from tests.support.services import ADMIN_KEY, PROJECT
from tests.support.specs import QUICK_DENSE_JOB

OPEN_PATHS = {"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"}
# The Open Inference Protocol's server metadata and health, open as /healthz is.
OPEN_PATHS |= {"/v2", "/v2/health/live", "/v2/health/ready"}


@pytest.fixture
def anonymous(api: TestClient) -> TestClient:
    """The same app, without the admin key the ``api`` client sends by default."""
    return without_key(api)


def test_every_endpoint_but_health_needs_a_key(api, anonymous):
    paths = anonymous.get("/openapi.json").json()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in OPEN_PATHS
        for method in operations
    ]
    assert len(routes) >= 12
    for method, path in routes:
        concrete = path.replace("{job_id}", "x").replace("{version}", "1")
        concrete = concrete.replace("{alias}", "champion").replace("{key_id}", "abc")
        concrete = concrete.replace("{name}", "imdb-sentiment")
        answer = anonymous.request(method, concrete, json={})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
        error = answer.json()["error"]  # the standard protocols' errors are a message alone
        assert "Authorization: Bearer" in (error if isinstance(error, str) else error["message"])
    assert anonymous.get("/healthz").status_code == 200


def test_a_wrong_or_malformed_key_is_401(anonymous):
    for headers in (
        bearer("snt_nothere_" + "x" * 40),
        bearer(ADMIN_KEY + "x"),
        {"Authorization": f"Basic {ADMIN_KEY}"},
        {"Authorization": "Bearer"},
    ):
        answer = anonymous.get("/v1/jobs", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["error"]["code"] == "unauthorized"


def test_scopes_decide_what_a_key_may_call(api, anonymous):
    predict, train = new_key(api, "predict"), new_key(api, "train")
    texts = {"texts": ["Fine."]}
    # predict: scores and reads models, trains nothing
    no_model_yet = anonymous.post("/v1/predict", json=texts, headers=bearer(predict))
    assert no_model_yet.status_code == 503
    assert anonymous.get("/v1/models", headers=bearer(predict)).status_code == 200
    refused = anonymous.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(predict))
    assert refused.status_code == 403
    assert "scope 'train'; this key has: predict" in refused.json()["error"]["message"]
    # train: jobs, but no predict, no aliases, no keys
    submitted = anonymous.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(train))
    assert submitted.status_code == 202
    assert anonymous.post("/v1/predict", json=texts, headers=bearer(train)).status_code == 403
    pin = anonymous.put("/v1/models/aliases/champion", json={"version": 1}, headers=bearer(train))
    assert pin.status_code == 403
    assert anonymous.get("/v1/keys", headers=bearer(train)).status_code == 403
    escalate = {"name": "x", "scopes": ["admin"]}
    assert anonymous.post("/v1/keys", json=escalate, headers=bearer(train)).status_code == 403


def test_a_train_key_sees_and_cancels_only_its_own_jobs(api, anonymous):
    alice, bob = new_key(api, "train", name="alice"), new_key(api, "train", name="bob")
    mine = anonymous.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(alice)).json()["id"]
    anonymous.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(bob))
    for method, path in (
        ("GET", f"/v1/jobs/{mine}"),
        ("GET", f"/v1/jobs/{mine}/metrics"),
        ("POST", f"/v1/jobs/{mine}/cancel"),
    ):
        answer = anonymous.request(method, path, headers=bearer(bob))
        assert answer.status_code == 404, (path, answer.text)  # as if it did not exist
        assert answer.json()["error"]["code"] == "job_not_found"
    assert anonymous.get(f"/v1/jobs/{mine}", headers=bearer(alice)).json()["status"] == "queued"
    listed = anonymous.get("/v1/jobs", headers=bearer(bob)).json()
    assert listed["total"] == 1 and mine not in {job["id"] for job in listed["items"]}
    assert api.get("/v1/jobs").json()["total"] == 2  # an admin sees every job
    assert api.post(f"/v1/jobs/{mine}/cancel").json()["status"] == "cancelled"


def test_an_idempotency_key_belongs_to_the_key_that_sent_it(api, anonymous):
    alice, bob = new_key(api, "train"), new_key(api, "train")
    same = {"Idempotency-Key": "shared-name"}
    first = anonymous.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(alice) | same)
    second = anonymous.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(bob) | same)
    assert (first.status_code, second.status_code) == (202, 202)  # not bob's replay of alice's
    assert first.json()["id"] != second.json()["id"]


def test_keys_are_stored_only_as_hashes_and_revocation_is_immediate(api, anonymous):
    created = api.post("/v1/keys", json={"name": "laptop", "scopes": ["predict"]}).json()
    key, key_id = created["key"], created["id"]
    assert key.startswith(f"snt_{key_id}_") and len(key) > 50
    with session_of(api) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.id == key_id))
        assert row is not None
        stored = [str(value) for value in vars(row).values()]
    assert not any(key in value for value in stored)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    listed = api.get("/v1/keys").json()["items"]
    assert {"id": key_id, "name": "laptop", "scopes": ["predict"]}.items() <= listed[-1].items()
    assert "key" not in listed[-1]

    assert anonymous.get("/v1/models", headers=bearer(key)).status_code == 200
    assert api.delete(f"/v1/keys/{key_id}").json()["revoked_at"] is not None
    assert anonymous.get("/v1/models", headers=bearer(key)).status_code == 401
    assert api.delete("/v1/keys/doesnotexist").status_code == 404


def test_bad_key_requests_get_422(api):
    for body in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["train"]},
        {"name": "bell\x07", "scopes": ["train"]},
        {"name": "x", "scopes": ["train"], "expires": "never"},
    ):
        assert api.post("/v1/keys", json=body).status_code == 422, body


def test_job_submissions_are_rate_limited_per_key(tmp_path):
    with app_with(tmp_path, rate_limit_jobs_per_minute=3) as api:
        alice, bob = new_key(api, "train"), new_key(api, "train")
        answers = [
            api.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(alice)) for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        limited = answers[-1]
        assert int(limited.headers["retry-after"]) >= 1
        assert "at most 3 a minute" in limited.json()["error"]["message"]
        # Another key has its own allowance.
        assert api.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(bob)).status_code == 202


def test_predict_is_rate_limited_per_key(tmp_path):
    with app_with(tmp_path, rate_limit_predict_per_minute=2) as api:
        codes = [api.post("/v1/predict", json={"texts": ["x"]}).status_code for _ in range(3)]
        assert codes == [503, 503, 429]  # 503: no model yet, but the calls were counted


def test_a_key_may_queue_only_so_many_jobs(tmp_path):
    with app_with(tmp_path, max_queued_jobs_per_key=2) as api:
        train = new_key(api, "train")
        codes = [
            api.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(train)).status_code
            for _ in range(3)
        ]
        assert codes == [202, 202, 429]
        refused = api.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(train)).json()
        assert refused["error"]["code"] == "queue_quota_exceeded"
        assert "MAX_QUEUED_JOBS_PER_KEY=2" in refused["error"]["message"]
        first = api.get("/v1/jobs").json()["items"][-1]["id"]
        api.post(f"/v1/jobs/{first}/cancel")  # a cancelled job no longer counts
        assert api.post("/v1/jobs", json=QUICK_DENSE_JOB, headers=bearer(train)).status_code == 202


def test_operator_spec_limits_are_422_naming_field_limit_and_setting(tmp_path):
    limits = {
        "max_epochs": 5,
        "max_units": 64,
        "max_train_size": 1000,
    }
    with app_with(tmp_path, **limits) as api:
        answer = api.post(
            "/v1/jobs",
            json={"name": "big", "epochs": 6, "units": 128, "hidden_layers": [32, 65]},
        )
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["code"] == "spec_not_admitted"
        fields = {d["field"]: d for d in error["details"]}
        assert set(fields) == {"epochs", "units", "hidden_layers.1", "train_size"}
        assert fields["epochs"]["message"] == (
            "at most 5 on this server (SENTIMENT_MAX_EPOCHS); received 6"
        )
        assert fields["train_size"]["received"] is None  # null: all 25,000 reviews
        assert api.get("/v1/jobs").json()["total"] == 0
        within = QUICK_DENSE_JOB | {"epochs": 5, "train_size": 1000}
        assert api.post("/v1/jobs", json=within).status_code == 202


def test_pretrained_vectors_come_from_the_servers_own_list(tmp_path):
    vectors = tmp_path / "vectors"
    vectors.mkdir()
    (vectors / "glove.tiny.txt").write_text("movie 0.1 0.2\n")
    with app_with(tmp_path, vectors_dir=vectors) as api:

        def submit(name: str | None) -> int:
            spec = QUICK_DENSE_JOB | {"embedding": {"dim": 2, "pretrained": name}}
            return api.post("/v1/jobs", json=spec).status_code

        assert submit("glove.tiny.txt") == 202
        assert submit("glove.tiny") == 202
        assert submit("imdb-word2vec") == 202
        assert submit(None) == 202
        assert submit("glove.other.txt") == 422
        for path in ("../secrets.txt", "/etc/passwd", "vectors/glove.tiny.txt", "..", ""):
            assert submit(path) == 422, path
        answer = api.post(
            "/v1/jobs", json=QUICK_DENSE_JOB | {"embedding": {"pretrained": "nope.txt"}}
        )
        assert "['imdb-word2vec', 'glove.tiny.txt']" in answer.json()["error"]["message"]


def test_predict_can_be_opened_to_callers_without_a_key(tmp_path):
    with app_with(tmp_path, predict_public=True) as api:
        anonymous = without_key(api)
        assert anonymous.post("/v1/predict", json={"texts": ["x"]}).status_code == 503
        assert anonymous.get("/v1/models").status_code == 401  # only predict was opened
        wrong = anonymous.post("/v1/predict", json={"texts": ["x"]}, headers=bearer("nope"))
        assert wrong.status_code == 401  # a key that is sent must still be valid


def test_readiness_details_are_for_admins_only(api, anonymous):
    parts = {"database", "migrations", "broker", "store", "champion"}
    assert anonymous.get("/readyz").json() == {
        "ready": True,
        "checks": {part: {"ok": True} for part in parts},  # each part's state, no details
    }
    detailed = api.get("/readyz").json()["checks"]
    assert detailed["migrations"]["current"] == detailed["migrations"]["head"]
    assert detailed["champion"]["champion_version"] is None


def test_a_fresh_install_prints_an_admin_key_once(tmp_path, capsys):
    settings = app_settings(tmp_path, admin_key=None)
    with TestClient(create_app(settings)) as first:
        printed = capsys.readouterr().out
        [key] = [line.strip() for line in printed.splitlines() if line.strip().startswith("snt_")]
        assert "shown only this once" in printed
        assert first.get("/v1/keys", headers=bearer(key)).json()["items"][0]["scopes"] == ["admin"]
    with TestClient(create_app(settings)):
        assert "snt_" not in capsys.readouterr().out  # once: the next start prints nothing


@contextmanager
def app_with(tmp_path: Path, **fields: Any) -> Iterator[TestClient]:
    """The API in process with extra settings, sending the admin key by default."""
    with running_app(app_settings(tmp_path, **fields)) as client:
        yield client


def test_the_keys_command_creates_lists_and_revokes(tmp_path):
    env = os.environ | {"SENTIMENT_DATABASE_URL": f"sqlite:///{tmp_path}/keys.sqlite"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.auth", *args],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    created = run("create", "--name", "ci runner", "--scope", "train", "--scope", "predict")
    assert created.returncode == 0, created.stderr
    [key] = [line for line in created.stdout.splitlines() if line.startswith("snt_")]
    key_id = key.split("_")[1]
    listed = run("list")
    assert f"{key_id}\tpredict,train\tactive\tci runner" in listed.stdout
    assert key not in listed.stdout  # only the id, never the key
    assert run("revoke", key_id).returncode == 0
    assert "revoked" in run("list").stdout
    missing = run("revoke", "nosuchkey")
    assert missing.returncode == 2 and "No API key with id 'nosuchkey'" in missing.stderr
    assert run("create", "--name", "x", "--scope", "root").returncode == 2  # argparse: bad choice


def test_a_key_revoked_elsewhere_stops_working_once_the_cache_lets_go(tmp_path):
    # A revocation by another process (the command) reaches this one when its cache
    # entry expires: at once with SENTIMENT_AUTH_CACHE_SECONDS=0.
    with app_with(tmp_path, auth_cache_seconds=0) as api:
        created = api.post("/v1/keys", json={"name": "x", "scopes": ["predict"]}).json()
        assert api.get("/v1/models", headers=bearer(created["key"])).status_code == 200
        with session_of(api) as session:
            revoke_key(session, created["id"])
        assert api.get("/v1/models", headers=bearer(created["key"])).status_code == 401


def test_the_key_cache_expires_forgets_and_stays_bounded():
    principal = Principal("abc", "x", frozenset({Scope.predict}))
    cache = KeyCache(ttl=60, max_entries=2)
    cache.put("h1", principal)
    assert cache.get("h1") == principal
    cache.forget("abc")
    assert cache.get("h1") is None
    for digest in ("a", "b", "c"):
        cache.put(digest, principal)
    assert len(cache._entries) <= 2
    expired = KeyCache(ttl=0)
    expired.put("h", principal)
    assert expired.get("h") is None
