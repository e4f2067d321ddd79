"""The service end to end over HTTP: a real API process, a real Celery worker process,
real training on a slice of the real data, on PostgreSQL + Redis and on the
embedded default (SQLite + SQLite broker)."""

import json
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.registry.artifact import verify_checksums
from tests.support.services import (
    ADMIN,
    Stack,
    embedded_env,
    postgres_database,
    redis_url,
    running_stack,
)
from tests.support.specs import TEST_METRICS, TINY_TEXT, ece_of_diagram

TINY_JOB: dict[str, Any] = {
    "name": "e2e-lstm",
    "architecture": "lstm",
    "units": 8,
    "embedding": {"dim": 16, "pretrained": None, "trainable": True},
    "sequence": TINY_TEXT,
    "epochs": 3,
    "batch_size": 32,
    "train_size": 1500,
    "test_size": 500,
}


@pytest.fixture(scope="module", params=["postgres+redis", "embedded"])
def stack(request, imdb_path, session_data_dir, tmp_path_factory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp(request.param.replace("+", "-"))
    env = embedded_env(imdb_path, session_data_dir, folder)
    env["SENTIMENT_QUEUE"] = f"training-test-{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        with running_stack(env, folder) as running:
            yield running
        return
    broker = redis_url()
    with postgres_database() as database:
        env |= {"SENTIMENT_DATABASE_URL": database, "SENTIMENT_BROKER_URL": broker}
        with running_stack(env, folder) as running:
            yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(headers=ADMIN, base_url=stack.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def quick_pair(stack: Stack) -> list[dict[str, Any]]:
    """Two quick dense jobs (different seeds) submitted together and trained once per
    stack: the jobs, ended."""
    quick = TINY_JOB | {"architecture": "dense", "epochs": 1, "train_size": 200, "test_size": 200}
    with httpx.Client(headers=ADMIN, base_url=stack.url, timeout=30) as http:
        ids = [
            http.post("/v1/jobs", json=quick | {"name": f"fresh-{i}", "seed": 1 + i}).json()["id"]
            for i in range(2)
        ]
        return [wait_for(http, job_id, {"succeeded", "failed"}, 180, stack) for job_id in ids]


def wait_for(
    client: httpx.Client, job_id: str, statuses: set[str], seconds: float, stack: Stack
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(
        f"job {job_id} still {job['status']} after {seconds}s; "
        f"worker log:\n{stack.log('worker')[-4000:]}"
    )


SPANISH_NAME = "Reseñas LSTM ñ"  # the course is taught in Spanish: any human name trains


def test_a_job_trains_with_live_metrics_registers_its_model_and_predicts(client, stack):
    submitted = client.post("/v1/jobs", json=TINY_JOB | {"name": SPANISH_NAME})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    assert submitted.headers["location"] == f"/v1/jobs/{job_id}"
    assert submitted.json()["status"] == "queued"

    # Poll like a dashboard: only new epochs each time, seen while the job runs.
    seen: list[dict[str, Any]] = []
    seen_while_running = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/jobs/{job_id}/metrics", params={"since_epoch": len(seen)}).json()
        assert all(epoch["epoch"] > len(seen) for epoch in answer["epochs"])
        seen += answer["epochs"]
        if answer["status"] == "running" and answer["epochs"]:
            seen_while_running += 1
        if answer["status"] in {"succeeded", "failed", "cancelled"}:
            break
        time.sleep(0.1)
    assert answer["status"] == "succeeded", stack.log("worker")[-4000:]
    assert [epoch["epoch"] for epoch in seen] == [1, 2, 3]
    assert seen_while_running >= 1, "no epoch was visible before the job ended"
    # The worker's log lines are JSON carrying the job's id.
    lines = stack.log("worker").splitlines()
    [claimed] = [json.loads(line) for line in lines if f"job {job_id} claimed" in line]
    assert claimed["job_id"] == job_id and claimed["level"] == "info"

    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["name"] == SPANISH_NAME  # kept as written
    progress = job["progress"]
    assert (progress["epoch"], progress["epochs"], progress["text"]) == (3, 3, "epoch 3 of 3")
    assert progress["phase"] is None  # phases show while running
    assert progress["checkpoint_bytes"] > 0 and progress["resumed_after_epoch"] is None
    assert set(job["test_metrics"]) == TEST_METRICS
    diagram = job["reliability"]  # the bins behind the ECE, from the same predictions
    assert [b["lower"] for b in diagram] == pytest.approx([i / 10 for i in range(10)])
    assert job["test_metrics"]["ece"] == pytest.approx(ece_of_diagram(diagram), abs=1e-9)
    assert (
        job["parameters"]["total"]
        == job["parameters"]["trainable"] + job["parameters"]["non_trainable"]
    )
    assert job["diagnosis"]["fit"] in {"underfitting", "good_fit", "overfitting"}
    assert job["latest_epoch"]["epoch"] == 3
    assert job["timings"]["running_seconds"] > 0
    version = job["model_version"]
    assert version is not None

    models = client.get("/v1/models").json()
    [row] = [item for item in models["items"] if item["version"] == version]
    assert row["job_id"] == job_id and row["name"] == SPANISH_NAME
    assert row["test_metrics"]["accuracy"] == job["test_metrics"]["accuracy"]
    folder = Path(stack.env["SENTIMENT_MODELS_STORE"]) / row["path"]
    assert (folder / "saved_model.pb").is_file()
    # The worker's export is its own user's only (SENTIMENT_UMASK=077).
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "manifest.json").stat().st_mode) == 0o600
    assert verify_checksums(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["job_id"] == job_id and manifest["name"] == SPANISH_NAME

    predicted = client.post(
        "/v1/predict", json={"texts": ["A wonderful film.", "", "<br />Awful!"]}
    )
    assert predicted.status_code == 200, predicted.text
    body = predicted.json()
    assert body["model_version"] == models["champion"]["version"]
    [serving] = [item for item in models["items"] if item["version"] == body["model_version"]]
    assert body["model_name"] == serving["name"]  # this job's, when it is the only model
    assert len(body["predictions"]) == 3
    for prediction in body["predictions"]:
        assert 0.0 <= prediction["probability"] <= 1.0
        assert prediction["label"] == (
            "positive" if prediction["probability"] >= 0.5 else "negative"
        )


def test_cancel_a_running_job_and_a_queued_one(client, stack):
    long_job = TINY_JOB | {"name": "e2e-long", "epochs": 200, "train_size": 4000}
    running_id = client.post("/v1/jobs", json=long_job).json()["id"]
    wait_for(client, running_id, {"running"}, 120, stack)
    queued = client.post("/v1/jobs", json=TINY_JOB | {"name": "e2e-queued"}).json()
    assert queued["status"] == "queued"  # the only worker is busy

    cancelled = client.post(f"/v1/jobs/{queued['id']}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled"  # at once
    assert cancelled.json()["timings"]["cancel_seconds"] == 0.0

    assert client.post(f"/v1/jobs/{running_id}/cancel").json()["cancel_requested"] is True
    job = wait_for(client, running_id, {"cancelled", "succeeded", "failed"}, 60, stack)
    assert job["status"] == "cancelled"
    assert job["progress"]["epoch"] < 200
    assert job["model_version"] is None
    kept = client.get(f"/v1/jobs/{running_id}/metrics").json()["epochs"]
    assert len(kept) == job["progress"]["epoch"]

    # The queued job's message still reaches the worker, which must not train it:
    # wait until the worker has taken that message and declined it.
    declined = f"job {queued['id']} is not queued; nothing to do"
    deadline = time.monotonic() + 120
    while declined not in stack.log("worker"):
        assert time.monotonic() < deadline, stack.log("worker")[-4000:]
        time.sleep(0.2)
    never = client.get(f"/v1/jobs/{queued['id']}").json()
    assert (
        never["status"] == "cancelled" and never["attempts"] == 0 and never["latest_epoch"] is None
    )
    assert never["model_version"] is None
    assert client.get(f"/v1/jobs/{queued['id']}/metrics").json()["epochs"] == []
    again = client.post(f"/v1/jobs/{running_id}/cancel")
    assert again.status_code == 409
    assert "already cancelled" in again.json()["error"]["message"]


def test_each_job_trains_in_a_fresh_worker_child(quick_pair):
    jobs = quick_pair
    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"]
    first, second = (job["worker"] for job in jobs)
    assert first != second  # a new process per job: no memory carried over


def test_an_ensemble_of_two_versions_is_evaluated_registered_and_scores(
    client, stack, quick_pair, tmp_path
):
    assert [job["status"] for job in quick_pair] == ["succeeded", "succeeded"]
    members = [job["model_version"] for job in quick_pair]  # two versions, unlike seeds
    submitted = client.post(
        "/v1/models/ensembles", json={"name": "e2e-ensemble", "members": members}
    )
    assert submitted.status_code == 202, submitted.text
    job = wait_for(client, submitted.json()["id"], {"succeeded", "failed"}, 300, stack)
    assert job["status"] == "succeeded", job["error"]
    assert job["diagnosis"] is None and job["test_metrics"]["accuracy"] > 0
    assert job["test_metrics"]["ece"] == pytest.approx(ece_of_diagram(job["reliability"]))
    version = job["model_version"]

    page = client.get("/v1/models").json()
    [row] = [m for m in page["items"] if m["version"] == version]
    assert row["members"] == [{"version": v, "weight": 0.5} for v in members]
    assert row["test_metrics"] == job["test_metrics"]
    best = max(page["items"], key=lambda m: (m["test_metrics"]["accuracy"], m["version"]))
    assert page["champion"] == {"version": best["version"], "reason": "best test accuracy"}
    folder = Path(stack.env["SENTIMENT_MODELS_STORE"]) / row["path"]
    assert verify_checksums(folder) == []
    # Calibrated on training reviews neither member fitted on (each fitted on a slice).
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["held_out_reviews"] == 5000 and manifest["temperature"] > 0

    texts = ["A wonderful film.", "", "<br />Awful!"]
    scored = client.post(f"/v1/models/{version}/predict", json={"texts": texts})
    assert scored.status_code == 200, scored.text
    assert scored.json()["model_version"] == version
    alone = tf_alone_scores(folder, texts, tmp_path)
    served = [p["probability"] for p in scored.json()["predictions"]]
    assert served == pytest.approx(alone, abs=1e-5)


def tf_alone_scores(folder: Path, texts: list[str], cwd: Path) -> list[float]:
    """The SavedModel's scores in a fresh process that imports TensorFlow alone."""
    from tests.support.exports import load_with_tensorflow_alone

    return list(load_with_tensorflow_alone(folder, texts, cwd)["scores"])
