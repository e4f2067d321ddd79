"""Fault tests: real API and worker processes on PostgreSQL and Redis, real faults.

Reliability settings are shortened (a heartbeat each second, a job silent for
4 s is presumed dead, the reconciler runs each second) so that each fault
resolves in seconds; every wait is bounded.
"""

import asyncio
import itertools
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.services import (
    ADMIN,
    FAST_RELIABILITY,
    Stack,
    embedded_env,
    past_its_first_checkpoint,
    postgres_database,
    redis_url,
    wait_for_job,
)
from tests.support.specs import QUICK_DENSE_JOB, TINY_TEXT

pytestmark = pytest.mark.faults

QUICK = QUICK_DENSE_JOB
SLOW_EPOCHS: dict[str, Any] = {
    "architecture": "lstm",
    "units": 16,
    "embedding": {"dim": 16, "pretrained": None, "trainable": True},
    "sequence": TINY_TEXT,
    "epochs": 3,
    "batch_size": 16,
    "train_size": 4000,
    "test_size": 200,
}
ENDED = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def stack(imdb_path, session_data_dir, tmp_path) -> Iterator[Stack]:
    broker = redis_url()
    with postgres_database() as database:
        env = FAST_RELIABILITY | {
            "SENTIMENT_IMDB_PATH": str(Path(imdb_path).resolve()),
            "SENTIMENT_DATA_DIR": str(session_data_dir),
            "SENTIMENT_MODELS_STORE": str(tmp_path / "models_store"),
            "SENTIMENT_QUEUE": f"faults-{uuid.uuid4().hex[:8]}",
            "SENTIMENT_DATABASE_URL": database,
            "SENTIMENT_BROKER_URL": broker,
        }
        with api_only(env, tmp_path) as running:
            yield running


@contextmanager
def api_only(env: dict[str, str], logs: Path) -> Iterator[Stack]:
    """A stack whose API runs; each test starts the workers it needs."""
    running = Stack(env, logs)
    try:
        running.start_api()
        yield running
    finally:
        running.stop()


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Shows a measured figure in the test run's output, even when the test passes."""

    def show(line: str) -> None:
        with capsys.disabled():
            print(f"\n[faults] {line}")

    return show


def submit(stack: Stack, spec: dict[str, Any], name: str) -> str:
    answer = httpx.post(
        f"{stack.url}/v1/jobs", json=spec | {"name": name}, timeout=30, headers=ADMIN
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def job(stack: Stack, job_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=30, headers=ADMIN).json())


def wait_for(stack: Stack, job_id: str, check, seconds: float, what: str) -> dict[str, Any]:
    def logs() -> str:
        names = ("api", "worker", "worker2")
        return "\n".join(f"--- {name}\n{stack.log(name)[-2500:]}" for name in names)

    return wait_for_job(stack.url, job_id, check, seconds, what, logs)


def versions_of(stack: Stack, job_id: str) -> list[int]:
    models = httpx.get(f"{stack.url}/v1/models", timeout=30, headers=ADMIN).json()["items"]
    return [model["version"] for model in models if model["job_id"] == job_id]


def metrics_of(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    metrics = httpx.get(f"{stack.url}/v1/jobs/{job_id}/metrics", timeout=30, headers=ADMIN).json()
    return list(metrics["epochs"])


def epochs_of(stack: Stack, job_id: str) -> list[int]:
    return [epoch["epoch"] for epoch in metrics_of(stack, job_id)]


def training_mid_epoch(stack: Stack, name: str) -> tuple[subprocess.Popen[bytes], str]:
    """A worker, and a job of three slow epochs it is training, past its first epoch
    and that epoch's checkpoint."""
    worker = stack.start_worker()
    job_id = submit(stack, SLOW_EPOCHS, name)
    wait_for(stack, job_id, past_its_first_checkpoint, 240, "past its first checkpoint")
    return worker, job_id


@pytest.fixture(params=["postgres+redis", "embedded"])
def any_stack(request, imdb_path, session_data_dir, tmp_path) -> Iterator[Stack]:
    """The fault stack, or one on the embedded defaults (SQLite database and broker)."""
    if request.param == "postgres+redis":
        yield request.getfixturevalue("stack")
        return
    env = FAST_RELIABILITY | embedded_env(imdb_path, session_data_dir, tmp_path)
    with api_only(env, tmp_path) as running:
        yield running


def training_child(worker: subprocess.Popen[bytes]) -> int:
    """The pid of the worker's child process that trains (one: concurrency 1)."""
    # Any of the worker's threads may have forked it (the pool replaces its children).
    tasks = Path(f"/proc/{worker.pid}/task").iterdir()
    children = [pid for task in tasks for pid in (task / "children").read_text().split()]
    assert len(children) == 1, children
    return int(children[0])


RESUMABLE = SLOW_EPOCHS | {"epochs": 4, "dropout": 0.2}


@pytest.fixture(scope="module")
def uninterrupted() -> dict[str, Any]:
    """RESUMABLE's uninterrupted run (its job and its epochs), trained on the first stack
    that asks and compared against on both: a spec trains the same on either."""
    return {}


def test_a_job_whose_worker_child_dies_in_epoch_3_resumes_after_epoch_2(
    any_stack, uninterrupted, report
):
    stack = any_stack
    worker = stack.start_worker()
    if not uninterrupted:
        whole_id = submit(stack, RESUMABLE, "uninterrupted")
        whole = wait_for(stack, whole_id, lambda j: j["status"] in ENDED, 300, "ended")
        assert whole["status"] == "succeeded", whole["error"]
        uninterrupted.update(job=whole, epochs=metrics_of(stack, whole_id))
    whole = uninterrupted["job"]

    job_id = submit(stack, RESUMABLE, "killed-in-epoch-3")
    wait_for(
        stack,
        job_id,
        lambda j: j["progress"]["phase"] == "training" and j["progress"]["training_epoch"] == 3,
        240,
        "in epoch 3",
    )
    kept = metrics_of(stack, job_id)
    assert [epoch["epoch"] for epoch in kept] == [1, 2]
    os.kill(training_child(worker), signal.SIGKILL)  # kill -9 of the training child only

    done = wait_for(stack, job_id, lambda j: j["status"] in ENDED, 300, "ended")
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2  # re-queued once by the reconciler, then resumed
    assert done["progress"]["resumed_after_epoch"] == 2
    assert done["progress"]["checkpoint_bytes"] > 0
    epochs = metrics_of(stack, job_id)
    assert [epoch["epoch"] for epoch in epochs] == [1, 2, 3, 4]
    assert epochs[:2] == kept  # epochs 1 and 2 kept as recorded, not trained again
    accuracy, whole_accuracy = done["test_metrics"]["accuracy"], whole["test_metrics"]["accuracy"]
    report(
        f"resumed after epoch 2: test accuracy {accuracy:.6f}; uninterrupted {whole_accuracy:.6f}"
    )
    assert round(accuracy, 4) == round(whole_accuracy, 4)
    assert done["test_metrics"] == pytest.approx(whole["test_metrics"], abs=1e-4)
    curves = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert [e[k] for e in epochs for k in curves] == pytest.approx(
        [e[k] for e in uninterrupted["epochs"] for k in curves], abs=1e-4
    )
    assert not (Path(stack.env["SENTIMENT_MODELS_STORE"]) / ".checkpoints" / job_id).exists()


def test_jobs_queued_through_a_redis_restart_all_run(stack):
    ids = [submit(stack, QUICK, f"through-restart-{i}") for i in range(3)]
    restart_redis()  # its queue is in memory only: the messages are gone
    stack.start_worker()
    for job_id in ids:
        done = wait_for(stack, job_id, lambda j: j["status"] in ENDED, 240, "ended")
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 1


def test_twenty_concurrent_jobs_on_two_workers_each_train_exactly_once(stack):
    stack.start_worker()
    stack.start_worker(name="worker2")

    async def submit_all() -> list[str]:
        async with httpx.AsyncClient(headers=ADMIN, base_url=stack.url, timeout=60) as http:
            answers = await asyncio.gather(
                *(http.post("/v1/jobs", json=QUICK | {"name": f"crowd-{i}"}) for i in range(20))
            )
        assert [a.status_code for a in answers] == [202] * 20
        return [a.json()["id"] for a in answers]

    ids = asyncio.run(submit_all())
    finished = [
        wait_for(stack, job_id, lambda j: j["status"] in ENDED, 600, "ended") for job_id in ids
    ]
    assert [j["status"] for j in finished] == ["succeeded"] * 20
    assert [j["attempts"] for j in finished] == [1] * 20
    assert len({j["model_version"] for j in finished}) == 20
    hosts = {j["worker"].split(" pid ")[0] for j in finished}
    assert len(hosts) == 2  # both workers trained


# The course's LSTM(128) on text settings no other test uses: the first job spends
# seconds vectorizing all 50,000 reviews and then compiling its first batch, steps
# nothing interrupts, so a cancel that waited for the training loop would be late.
COURSE_LSTM = SLOW_EPOCHS | {
    "units": 128,
    "embedding": {"dim": 32, "pretrained": None},
    "sequence": {"max_len": 40, "vocab_size": 3000},
}


def test_a_running_job_is_cancelled_while_starting_and_mid_training_keeping_its_metrics(
    stack, report
):
    stack.start_worker()
    starting = submit(stack, COURSE_LSTM | {"epochs": 50}, "cancel-while-compiling")
    wait_for(stack, starting, lambda j: j["status"] == "running", 240, "running")
    assert (
        httpx.post(f"{stack.url}/v1/jobs/{starting}/cancel", timeout=30, headers=ADMIN).status_code
        == 202
    )

    training = submit(stack, COURSE_LSTM | {"epochs": 50}, "cancel-mid-training")
    wait_for(stack, training, lambda j: j["progress"]["epoch"] >= 1, 240, "past epoch 1")
    assert (
        httpx.post(f"{stack.url}/v1/jobs/{training}/cancel", timeout=30, headers=ADMIN).status_code
        == 202
    )

    for job_id in (starting, training):
        done = wait_for(stack, job_id, lambda j: j["status"] in ENDED, 120, "ended")
        assert done["status"] == "cancelled", done["error"]
        # Measured by the service itself: from the request to the row's end (the
        # promise of docs/reliability.md is 5 s; shown, not asserted).
        report(
            f"{done['name']}: cancelled {done['timings']['cancel_seconds']:.2f} s after the request"
        )
        assert done["model_version"] is None and versions_of(stack, job_id) == []
        kept = epochs_of(stack, job_id)
        assert kept == list(range(1, done["progress"]["epoch"] + 1))  # metrics so far kept
    assert epochs_of(stack, training)  # it had finished at least one epoch

    # Training really stopped: the single worker is free for the next job.
    after = submit(stack, QUICK, "after-the-cancels")
    done = wait_for(stack, after, lambda j: j["status"] in ENDED, 240, "ended")
    assert done["status"] == "succeeded", done["error"]


def test_a_job_over_its_time_limit_fails_saying_so(stack):
    stack.start_worker(SENTIMENT_JOB_TIME_LIMIT_SECONDS="3")
    job_id = submit(stack, SLOW_EPOCHS | {"epochs": 50}, "too-long")
    done = wait_for(stack, job_id, lambda j: j["status"] in ENDED, 240, "ended")
    assert done["status"] == "failed"
    assert "exceeded the time limit of 3 s" in done["error"]
    assert done["model_version"] is None


def test_postgres_down_for_ten_seconds_gets_503s_and_the_job_still_trains_each_epoch_once(
    stack, report
):
    # A lease older than the outage is not stale: the reconciler, back with the
    # database, must not take the job over from a worker that only waited (a
    # presumed-dead worker's takeover is the kill -9 tests' part).
    stack.start_worker(SENTIMENT_STALE_AFTER_SECONDS="60")
    job_id = submit(stack, SLOW_EPOCHS, "through-db-outage")
    wait_for(stack, job_id, lambda j: j["status"] == "running", 240, "running")
    answers = []
    postgres("stop")
    try:
        stopped = time.monotonic()
        while time.monotonic() - stopped < 10:
            answer = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=30, headers=ADMIN)
            answers.append((answer.status_code, answer.json()))
            time.sleep(1)
    finally:
        postgres("start")
    assert answers and all(status == 503 for status, _ in answers)
    assert all(body["error"]["code"] == "database_unavailable" for _, body in answers)
    report(f"PostgreSQL down: {len(answers)} polls, every one a 503")
    # The worker retries its writes for SENTIMENT_DB_RETRY_SECONDS=60, longer than the
    # outage: the job goes on and ends as if nothing happened.
    done = wait_for(stack, job_id, lambda j: j["status"] in ENDED, 300, "ended")
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 1  # the same worker carried on, not a re-queue
    assert epochs_of(stack, job_id) == [1, 2, 3]  # every epoch recorded, exactly once
    assert versions_of(stack, job_id) == [done["model_version"]]  # exactly one version


def test_a_worker_told_to_stop_finishes_its_job_first(stack):
    worker, job_id = training_mid_epoch(stack, "sigterm-mid-job")
    worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown: the running task finishes
    done = wait_for(stack, job_id, lambda j: j["status"] in ENDED, 300, "ended")
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 1  # finished by the same worker, not handed to another
    assert epochs_of(stack, job_id) == [1, 2, 3]
    assert worker.wait(timeout=120) == 0  # and then it stopped


def readiness(stack: Stack) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{stack.url}/readyz", headers=ADMIN, timeout=30)
    return answer.status_code, answer.json()["checks"]


def test_readiness_reports_the_database_then_the_broker_going_down(stack):
    assert readiness(stack)[0] == 200
    postgres("stop")
    try:
        status, checks = readiness(stack)
    finally:
        postgres("start")
    assert status == 503
    assert checks["database"]["ok"] is False and checks["broker"]["ok"] is True
    deadline = time.monotonic() + 60
    while readiness(stack)[0] != 200:
        assert time.monotonic() < deadline, "not ready again after PostgreSQL came back"
        time.sleep(0.5)
    stop_redis()
    try:
        status, checks = readiness(stack)
    finally:
        start_redis()
    assert status == 503
    assert checks["broker"]["ok"] is False and checks["database"]["ok"] is True
    assert readiness(stack)[0] == 200


def restart_redis() -> None:
    stop_redis()
    start_redis()


def stop_redis() -> None:
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], check=False, capture_output=True
    )


def start_redis() -> None:
    subprocess.run(
        [
            "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
            "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
            "--logfile", "/var/log/redis/ci.log",
        ],
        check=True,
    )  # fmt: skip
    for _ in range(50):
        if (
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode
            == 0
        ):
            return
        time.sleep(0.2)
    raise RuntimeError("Redis did not come back")


def postgres(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action], check=True
    )


WORD_VECTORS = SLOW_EPOCHS | {
    "architecture": "gru",
    "units": 8,
    "embedding": {"dim": 16, "pretrained": "imdb-word2vec", "trainable": False},
}


def poll_progress(
    stack: Stack, job_id: str, until, seconds: float
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Poll the job once a second until ``until(job, readings)``; returns the last
    answer and each running poll's (phase, progress reading)."""
    readings: list[tuple[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = job(stack, job_id)
        progress = current["progress"]
        if current["status"] == "running" and progress["phase"]:
            readings.append(
                (
                    progress["phase"],
                    (progress["done"], progress["training_epoch"], progress["epoch"]),
                )
            )
        if until(current, readings):
            return current, readings
        time.sleep(1.0)
    raise AssertionError(f"job {job_id}: not done polling within {seconds}s\n{stack.log('worker')}")


UNMEASURED = {"building", "exporting", "registering"}  # short, with nothing to count


def still_polls(readings: list[tuple[str, Any]]) -> dict[str, int]:
    """Per measured phase: the pairs of consecutive polls in it that showed the same
    progress."""
    same: dict[str, int] = {}
    for (phase, first), (next_phase, second) in itertools.pairwise(readings):
        if phase == next_phase and first == second and phase not in UNMEASURED:
            same[phase] = same.get(phase, 0) + 1
    return same


def progress_moved(readings: list[tuple[str, Any]]) -> dict[str, bool]:
    """Per measured phase polled more than once: whether its progress reading changed."""
    seen: dict[str, set[Any]] = {}
    polls: dict[str, int] = {}
    for phase, reading in readings:
        if phase not in UNMEASURED:
            seen.setdefault(phase, set()).add(reading)
            polls[phase] = polls.get(phase, 0) + 1
    return {phase: len(seen[phase]) > 1 for phase in seen if polls[phase] > 1}


def test_progress_moves_in_every_phase_and_a_cancel_during_word_vectors_frees_the_worker(
    stack, tmp_path, report
):
    # Fresh caches: the text arrays and the word vectors are built by these jobs.
    fresh = tmp_path / "fresh-data"
    stack.env = stack.env | {"SENTIMENT_DATA_DIR": str(fresh)}
    stack.start_worker()
    vectors = submit(stack, WORD_VECTORS, "cancel-while-training-word-vectors")
    after = submit(stack, SLOW_EPOCHS, "after-the-cancel")  # queued behind it

    def words_trained_a_while(current: dict[str, Any], readings: list[tuple[str, Any]]) -> bool:
        polls = [phase for phase, _ in readings].count("training_word_vectors")
        return polls >= 4 or current["status"] in ENDED

    vectors_job, vector_readings = poll_progress(stack, vectors, words_trained_a_while, 300)
    assert vectors_job["status"] == "running", vectors_job
    answer = httpx.post(f"{stack.url}/v1/jobs/{vectors}/cancel", timeout=30, headers=ADMIN)
    assert answer.status_code == 202

    later, job_readings = poll_progress(stack, after, lambda j, _: j["status"] in ENDED, 300)
    assert later["status"] == "succeeded", later["error"]
    cancelled = job(stack, vectors)
    assert cancelled["status"] == "cancelled"
    cancel_asked = datetime.fromisoformat(cancelled["timings"]["cancel_requested_at"])
    next_started = datetime.fromisoformat(later["timings"]["started_at"])
    freed = (next_started - cancel_asked).total_seconds()
    report(f"cancel during word-vector training: the worker took its next job {freed:.2f} s later")
    assert freed > 0  # the next job started after the cancel, on the freed worker
    assert cancelled["model_version"] is None and versions_of(stack, vectors) == []

    readings = vector_readings + job_readings
    phases = {phase for phase, _ in readings}
    report(f"polls per phase: { {p: [q for q, _ in readings].count(p) for p in sorted(phases)} }")
    report(f"polls that showed no progress since the last: {still_polls(vector_readings)} "
           f"(cancelled job), {still_polls(job_readings)} (next job)")  # fmt: skip
    assert {"reading_data", "vectorizing", "training_word_vectors", "training"} <= phases
    for job_readings_of_one in (vector_readings, job_readings):
        for phase, moved in progress_moved(job_readings_of_one).items():
            assert moved, f"{phase}: polled more than once, never moved: {job_readings_of_one}"

    # The caches stayed whole: no word vectors (their training was stopped), no
    # partial files, and the text arrays the cancelled job wrote serve the next one.
    cache = fresh / "cache"
    assert sorted(p.name for p in (cache / "vectors").glob("*")) == []
    assert [p.name for p in (cache / "text").glob(".*")] == []
    [arrays] = (cache / "text").glob("*.npz")
    with np.load(arrays) as saved:
        assert len(saved["x_train"]) == 25_000
