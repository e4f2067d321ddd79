"""Hostile and careless input, each from the hostile-input report: names in any script
(and none that hide text), bodies nested to crash encoders, ranges that overflow, keys
that lock everyone out, other tenants' ids, browser hardening, file permissions, and
the small inconsistencies."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.jobs import service as jobs_service
from tests.support.api import app_settings, running_app, settings_of, without_key
from tests.support.services import PROJECT
from tests.support.serving import register_copy
from tests.support.specs import QUICK_DENSE_JOB

BODY_ENDPOINTS = [
    "/v1/predict",
    "/v1/jobs",
    "/v1/keys",
    "/v1/specs/summary",
    "/v1/recipes/course-dense/jobs",
    "/v1/sweeps",
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key(api: TestClient, *scopes: str) -> tuple[str, str]:
    created = api.post("/v1/keys", json={"name": "k", "scopes": list(scopes)}).json()
    return created["id"], created["key"]


@pytest.mark.parametrize("name", ["Café run", "Übung 1", "Reseñas LSTM", "<b>bold", "日本語"])
def test_names_in_any_script_are_kept_as_written(api, name):
    answer = api.post("/v1/jobs", json=QUICK_DENSE_JOB | {"name": name})
    assert answer.status_code == 202, answer.text
    assert api.get(f"/v1/jobs/{answer.json()['id']}").json()["name"] == name


@pytest.mark.parametrize(
    ("character", "label"),
    [
        ("\u0085", "U+0085 (a control character)"),
        ("\u2028", "U+2028 (LINE SEPARATOR)"),
        ("\u2029", "U+2029 (PARAGRAPH SEPARATOR)"),
        ("\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("\u200b", "U+200B (ZERO WIDTH SPACE)"),
        ("\ufeff", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
    ],
)
def test_names_that_hide_or_forge_text_are_refused_naming_the_character(api, character, label):
    name = f"run{character}x"
    for path, body in (
        ("/v1/jobs", QUICK_DENSE_JOB | {"name": name}),
        ("/v1/sweeps", {"name": name, "grid": {"epochs": [1]}}),
        ("/v1/keys", {"name": name, "scopes": ["predict"]}),
    ):
        answer = api.post(path, json=body)
        assert answer.status_code == 422, (path, answer.text)
        [detail] = answer.json()["error"]["details"]
        assert detail["field"] == "name"
        assert f"received {label} at character 3" in detail["message"]


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize("levels", [960, 100_000])
def test_deeply_nested_json_is_a_422_that_says_so(api, path, levels):
    body = "[" * levels + "]" * levels
    answer = api.post(
        path,
        content=body,
        headers={"content-type": "application/json", "x-request-id": "deep-1"},
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert (
        f"expected JSON nested at most 32 levels deep; received {levels} levels"
        in (error["message"])
    )
    assert answer.headers["x-request-id"] == "deep-1"


def test_brackets_inside_strings_do_not_count_as_nesting(api):
    answer = api.post("/v1/jobs", json=QUICK_DENSE_JOB | {"name": "[" * 50 + "{" * 50})
    assert answer.status_code == 202, answer.text


def test_an_unexpected_error_is_a_500_that_carries_the_request_id(tmp_path, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(jobs_service, "page", broken)  # a fault on one route only
    with running_app(app_settings(tmp_path), raise_server_exceptions=False) as api:
        answer = api.get("/v1/jobs", headers={"X-Request-ID": "trace-me-7"})
        assert answer.status_code == 500
        assert answer.json()["error"]["code"] == "internal_error"
        assert answer.headers["x-request-id"] == "trace-me-7"


def test_an_overflowing_random_range_is_a_422(api):
    sweep = {
        "name": "n",
        "random": {
            "samples": 2,
            "space": {"epochs": {"min": -1e308, "max": 1e308, "integer": True}},
        },
    }
    answer = api.post("/v1/sweeps", json=sweep)
    assert answer.status_code == 422, answer.text
    fields = {detail["field"] for detail in answer.json()["error"]["details"]}
    assert any(field.endswith("min") for field in fields)


def test_an_admin_cannot_revoke_its_own_key(api):
    key_id, key = new_key(api, "admin")
    answer = api.delete(f"/v1/keys/{key_id}", headers=bearer(key))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "own_key"
    assert api.get("/v1/models", headers=bearer(key)).status_code == 200  # still works
    assert api.delete(f"/v1/keys/{key_id}").status_code == 200  # another admin may


def test_the_last_admin_key_cannot_be_revoked(tmp_path):
    env = os.environ | {"SENTIMENT_DATABASE_URL": f"sqlite:///{tmp_path}/keys.sqlite"}
    env.pop("SENTIMENT_ADMIN_KEY", None)  # no operator key to fall back on

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.auth", *args],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def make_admin() -> str:
        created = run("create", "--name", "admin", "--scope", "admin")
        assert created.returncode == 0, created.stderr
        return next(line for line in created.stdout.splitlines() if line.startswith("snt_"))

    first = make_admin().split("_")[1]
    refused = run("revoke", first)
    assert refused.returncode == 2 and "last active admin key" in refused.stderr
    make_admin()
    assert run("revoke", first).returncode == 0  # another admin key remains


def test_metrics_and_models_show_no_other_tenants_job(api, exported):
    _, trainer = new_key(api, "train")
    trainer_id = api.get("/v1/keys").json()["items"][-1]["id"]
    settings = settings_of(api)
    version = register_copy(
        settings.database_url, settings.models_store, exported, 0.8, owner=trainer_id
    )
    _, outsider = new_key(api, "predict")
    by_owner = api.get(f"/v1/models/{version}", headers=bearer(trainer)).json()
    by_admin = api.get(f"/v1/models/{version}").json()
    by_outsider = api.get(f"/v1/models/{version}", headers=bearer(outsider)).json()
    assert by_owner["job_id"] == by_admin["job_id"] is not None
    assert by_owner["name"] == by_admin["name"] == "served-0.8"
    assert by_outsider["job_id"] is None and by_outsider["name"] is None
    assert by_outsider["test_metrics"] == by_admin["test_metrics"]  # the model itself is shared
    [listed] = api.get("/v1/models", headers=bearer(outsider)).json()["items"]
    assert listed["job_id"] is None
    scraped = api.get("/metrics", headers=bearer(outsider)).text
    assert by_admin["job_id"] not in scraped and 'job_id="' not in scraped  # no id label


def test_every_answer_carries_the_browser_hardening_headers(api):
    for path in ("/", "/v1/models", "/healthz", "/docs", "/no/such/path"):
        headers = api.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
    policy = api.get("/").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css", "init/swagger-init.js"]),
        ("/redoc", ["redoc.standalone.js"]),
    ],
)
def test_the_api_docs_load_nothing_from_elsewhere(api, page, assets):
    html = api.get(page).text
    assert "http://" not in html and "https://" not in html and "<script>" not in html
    for asset in assets:
        assert f'src="/docs-assets/{asset}"' in html or f'href="/docs-assets/{asset}"' in html
        served = api.get(f"/docs-assets/{asset}")
        assert served.status_code == 200 and len(served.content) > 100, asset


def test_the_database_data_and_models_store_are_owner_only(tmp_path, exported):
    data = tmp_path / "data"
    settings = app_settings(
        tmp_path,
        database_url=f"sqlite:///{data}/sentiment.sqlite",
        models_store=data / "models_store",
    )
    with running_app(settings) as api:
        assert api.post("/v1/jobs", json=QUICK_DENSE_JOB).status_code == 202  # writes the WAL
        register_copy(settings.database_url, settings.models_store, exported, 0.7)
        files = [data / f"sentiment.sqlite{end}" for end in ("", "-wal", "-shm")]
        # (A worker's exports are checked in tests/e2e/test_service.py: this version
        # is a copy of the test's own export.)
        store = Path(settings.models_store)
        folders = [data, store, store / "imdb-sentiment"]
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for path in folders:
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_a_405_lists_every_method_the_path_takes(api):
    answer = api.delete("/v1/jobs")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD, POST"
    assert answer.json()["error"] == {
        "code": "method_not_allowed",
        "message": "DELETE is not allowed on /v1/jobs; it takes GET, HEAD, POST.",
        "details": [],
    }


@pytest.mark.parametrize("loose", ["1_0", "+1", "1.0", "%201", "0x1"])
def test_numbers_in_paths_and_queries_are_digits(api, loose):
    for path in (f"/v1/models/{loose}", f"/v1/jobs?limit={loose}"):
        answer = api.get(path)
        assert answer.status_code == 422, (path, answer.text)
        assert "expected a whole number written in digits" in answer.text
    assert api.get("/v1/jobs?limit=10").status_code == 200


def test_a_413_is_formatted_like_every_other_error(api):
    answer = api.post("/v1/predict", content=b"x" * (3 * 1024 * 1024))
    assert answer.status_code == 413
    assert answer.content.startswith(b'{"error":{"code":"body_too_large","message":')
    assert answer.headers["x-request-id"]


def test_the_sweep_quota_counts_the_keys_jobs_and_the_sweeps_points(tmp_path):
    with running_app(app_settings(tmp_path, max_queued_jobs_per_key=5)) as api:
        for _ in range(3):
            assert api.post("/v1/jobs", json=QUICK_DENSE_JOB).status_code == 202
        sweep = {"name": "s", "base": QUICK_DENSE_JOB, "grid": {"epochs": [1, 2, 3]}}
        answer = api.post("/v1/sweeps", json=sweep)
        assert answer.status_code == 429
        message = answer.json()["error"]["message"]
        assert "This sweep has 3 points and this key already has 3 jobs queued" in message
        assert api.get("/v1/jobs").json()["total"] == 3


def test_json_logs_escape_characters_that_could_forge_a_line(api, capfd):
    # Names refuse them; anything else logged (a path, say) is escaped, not raw.
    api.get("/v1/jobs/\u2028x\u202e")
    logged = capfd.readouterr().err
    assert "\u2028" not in logged and "\u202e" not in logged
    assert "\\u2028x\\u202e" in logged
    assert any(
        json.loads(line).get("path") == "/v1/jobs/\u2028x\u202e"
        for line in logged.splitlines()
        if line.startswith("{")
    )


def test_without_a_key_the_docs_still_open(api):
    anonymous = without_key(api)
    assert anonymous.get("/docs").status_code == 200
    assert anonymous.get("/redoc").status_code == 200
    assert anonymous.get("/v1/jobs").status_code == 401
