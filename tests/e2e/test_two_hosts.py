"""Several hosts, simulated honestly: an API host and worker hosts as separate process
groups, each in a working directory of its own with its own caches, sharing nothing
but PostgreSQL, Redis and the S3 server (the models store is a bucket on it; each
host reads the IMDB data, its input, from the same read-only folder).

A job trains on a worker host and the API host serves it; the S3 server stopped for
10 s mid-job neither fails the job nor interrupts predictions; a job whose worker host
is killed (kill -9 of its whole process group) resumes on a second worker host from
the checkpoint in the bucket and ends with the metrics of an uninterrupted run.
"""

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.object_store import S3Server
from tests.support.services import (
    ADMIN,
    FAST_RELIABILITY,
    Stack,
    past_its_first_checkpoint,
    postgres_database,
    redis_url,
    wait_for_job,
)
from tests.support.specs import TINY_TEXT

pytestmark = pytest.mark.faults

# Three LSTM epochs of a few seconds each: long enough to cut one, short enough for CI.
JOB: dict[str, Any] = {
    "architecture": "lstm",
    "units": 16,
    "embedding": {"dim": 16, "pretrained": None, "trainable": True},
    "sequence": TINY_TEXT,
    "epochs": 3,
    "batch_size": 32,
    "train_size": 2000,
    "test_size": 300,
    "dropout": 0.2,
}
ENDED = {"succeeded", "failed", "cancelled"}
OUTAGE_SECONDS = 10


def new_host(shared: dict[str, str], folder: Path, name: str) -> Stack:
    """A host: its own working directory, data caches and models cache."""
    home = folder / name
    home.mkdir()
    env = shared | {
        "SENTIMENT_DATA_DIR": str(home / "data"),
        "SENTIMENT_MODELS_CACHE": str(home / "models-cache"),
    }
    return Stack(env, home, cwd=home)


@dataclass
class Hosts:
    shared: dict[str, str]
    folder: Path
    api: Stack
    worker: Stack  # the first worker host
    reference: dict[str, Any] = field(default_factory=dict)  # a job it trained, uninterrupted
    others: list[Stack] = field(default_factory=list)

    def host(self, name: str) -> Stack:
        self.others.append(new_host(self.shared, self.folder, name))
        return self.others[-1]

    def submit(self, name: str, **changes: Any) -> str:
        answer = httpx.post(
            f"{self.api.url}/v1/jobs",
            json=JOB | changes | {"name": name},
            headers=ADMIN,
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    def wait(self, job_id: str, check, seconds: float, what: str) -> dict[str, Any]:
        def logs() -> str:
            return "\n".join(
                f"--- {path}\n{path.read_text(errors='replace')[-2500:]}"
                for path in sorted(self.folder.glob("*/*.log"))
            )

        return wait_for_job(self.api.url, job_id, check, seconds, what, logs)

    def predict(self) -> httpx.Response:
        return httpx.post(
            f"{self.api.url}/v1/predict",
            json={"texts": ["A fine film."]},
            headers=ADMIN,
            timeout=30,
        )


@pytest.fixture(scope="module")
def hosts(imdb_path, s3_server: S3Server, tmp_path_factory) -> Iterator[Hosts]:
    folder = tmp_path_factory.mktemp("hosts")
    broker = redis_url()
    with postgres_database() as database:
        shared = (
            FAST_RELIABILITY
            | s3_server.env
            | {
                "SENTIMENT_IMDB_PATH": str(Path(imdb_path).resolve()),
                "SENTIMENT_DATABASE_URL": database,
                "SENTIMENT_BROKER_URL": broker,
                "SENTIMENT_QUEUE": f"hosts-{uuid.uuid4().hex[:8]}",
                "SENTIMENT_MODELS_STORE": f"s3://{s3_server.new_bucket()}/models",
                "SENTIMENT_CHAMPION_POLL_SECONDS": "0.5",
            }
        )
        api = new_host(shared, folder, "api-host")
        worker = new_host(shared, folder, "worker-host-1")
        hosts = Hosts(shared, folder, api, worker)
        try:
            api.start_api()
            worker.start_worker()
            reference = hosts.submit("uninterrupted")
            hosts.reference = hosts.wait(reference, lambda j: j["status"] in ENDED, 300, "ended")
            yield hosts
        finally:
            for stack in (*hosts.others, worker, api):
                stack.stop()


def test_a_job_trained_on_the_worker_host_is_served_by_the_api_host(hosts):
    done = hosts.reference
    assert done["status"] == "succeeded", done["error"]
    version = done["model_version"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = hosts.predict()
        if answer.status_code == 200 and answer.json()["model_version"] == version:
            break
        time.sleep(0.3)
    assert answer.status_code == 200 and answer.json()["model_version"] == version, answer.text
    # The API host loaded the copy it downloaded into its own cache; no host has a store.
    cached = hosts.folder / "api-host" / "models-cache" / "imdb-sentiment" / str(version)
    assert (cached / "manifest.json").is_file()
    assert not list(hosts.folder.glob("*/models_store"))
    assert not (hosts.folder / "worker-host-1" / "models-cache" / "imdb-sentiment").exists()


def test_the_store_down_for_ten_seconds_fails_no_job_and_no_prediction(hosts, s3_server):
    job_id = hosts.submit("through-an-outage", seed=7)
    hosts.wait(
        job_id,
        lambda j: j["status"] == "running" and j["progress"]["phase"] == "training",
        240,
        "training",
    )
    answers: list[int] = []
    stop = threading.Event()

    def keep_predicting() -> None:
        while not stop.is_set():
            try:
                answers.append(hosts.predict().status_code)
            except httpx.TransportError:
                answers.append(0)
            time.sleep(0.1)

    predicting = threading.Thread(target=keep_predicting)
    s3_server.stop()
    try:
        predicting.start()
        time.sleep(OUTAGE_SECONDS / 2)
        ready = httpx.get(f"{hosts.api.url}/readyz", headers=ADMIN, timeout=30)
        time.sleep(OUTAGE_SECONDS / 2)
    finally:
        s3_server.start()
        stop.set()
        predicting.join()

    # Still ready: it serves its champion; the store's state says why it is not whole.
    assert ready.status_code == 200, ready.text
    store = ready.json()["checks"]["store"]
    assert not store["ok"]
    assert s3_server.endpoint in store["error"] and "s3://" in store["error"]
    assert len(answers) > OUTAGE_SECONDS * 3 and set(answers) == {200}, answers

    done = hosts.wait(job_id, lambda j: j["status"] in ENDED, 300, "ended")
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 1  # the worker waited for the store; nothing was re-run
    log = (hosts.folder / "worker-host-1" / "worker.log").read_text(errors="replace")
    assert "models store:" in log and "retrying" in log  # the outage met an upload


def test_a_second_worker_host_resumes_the_job_of_a_killed_one(hosts):
    job_id = hosts.submit("host-killed")
    hosts.wait(job_id, past_its_first_checkpoint, 240, "past its first checkpoint")
    [first] = hosts.worker.processes
    hosts.worker.kill(first)  # kill -9 of the whole worker host: worker and training child
    hosts.host("worker-host-2").start_worker(name="worker2")

    done = hosts.wait(job_id, lambda j: j["status"] in ENDED, 300, "ended")
    assert done["status"] == "succeeded", done["error"]
    assert done["worker"].startswith("worker2-")  # the second host finished it
    assert done["attempts"] == 2  # re-queued once by the reconciler
    assert done["progress"]["resumed_after_epoch"] >= 1  # from the checkpoint in the bucket
    epochs = httpx.get(f"{hosts.api.url}/v1/jobs/{job_id}/metrics", headers=ADMIN, timeout=30)
    assert [e["epoch"] for e in epochs.json()["epochs"]] == [1, 2, 3]  # no duplicate epochs
    models = httpx.get(f"{hosts.api.url}/v1/models", headers=ADMIN, timeout=30).json()["items"]
    assert [m["version"] for m in models if m["job_id"] == job_id] == [done["model_version"]]
    assert done["test_metrics"] == pytest.approx(hosts.reference["test_metrics"], abs=1e-4)
    assert (hosts.folder / "worker-host-2" / "data").is_dir()  # it prepared its own data
