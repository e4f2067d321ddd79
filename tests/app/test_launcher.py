"""`make up` (``python -m app``): one command runs the API and a worker on the embedded
default, trains a job, and stops both processes on Ctrl-C. What it prints for the person
who started it goes to stdout; every process's output, the worker's and TensorFlow's
native code's included, is JSON log lines on stderr."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import PROJECT, free_port, wait_until_ready
from tests.support.specs import QUICK_DENSE_JOB

# Loggers of the other processes (the API's, the worker's main process) whose lines may
# fall while the job runs; the job's own lines are all others.
NOT_THE_JOBS = ("uvicorn", "alembic", "app.predict", "worker.reconciler", "celery.worker")


def test_make_up_serves_trains_and_stops(imdb_path, session_data_dir, tmp_path):
    port = free_port()
    # TensorFlow's native messages as an operator gets them: the service's default.
    unset = {"SENTIMENT_ADMIN_KEY", "TF_CPP_MIN_LOG_LEVEL", "SENTIMENT_TF_CPP_MIN_LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in unset} | {
        "SENTIMENT_IMDB_PATH": str(Path(imdb_path).resolve()),
        "SENTIMENT_DATA_DIR": str(session_data_dir),
        "SENTIMENT_MODELS_STORE": str(tmp_path / "models_store"),
        "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp_path}/sentiment.sqlite",
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.sqlite",
        "SENTIMENT_PORT": str(port),
    }
    printed_to = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    logged_to = open(tmp_path / "up.stderr", "wb")  # noqa: SIM115 (the process's real stderr)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=PROJECT, env=env, stdout=printed_to, stderr=logged_to
    )
    url = f"http://127.0.0.1:{port}"

    def output() -> str:
        return (tmp_path / "up.log").read_text() + (tmp_path / "up.stderr").read_text()[-3000:]

    try:
        assert wait_until_ready(url, launcher), output()
        # A fresh install: the admin key made at first start is in the printed example.
        [key] = re.findall(r"^  KEY=(snt_\S+)$", (tmp_path / "up.log").read_text(), re.MULTILINE)
        auth = {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 210
        spec = QUICK_DENSE_JOB | {"name": "up-dense"}
        job_id = httpx.post(f"{url}/v1/jobs", json=spec, headers=auth, timeout=10).json()["id"]
        status = "queued"
        while time.monotonic() < deadline and status in ("queued", "running"):
            time.sleep(0.5)
            job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=auth, timeout=10).json()
            status = job["status"]
        assert status == "succeeded", output()
        printed = (tmp_path / "up.log").read_text()
        assert f"Service ready: http://127.0.0.1:{port}/" in printed
        assert "curl -s -X POST" in printed
        started = processes_configured_with(str(tmp_path))
        assert len(started) >= 2  # the launcher (serving the API) and the worker
    finally:
        launcher.send_signal(signal.SIGINT)
        code = launcher.wait(timeout=60)
    assert code == 0
    left = processes_configured_with(str(tmp_path))
    assert left == [], [command_line(pid) for pid in left]  # the worker stopped with the API
    # No banner, no shutdown notice from the worker: stdout is the launcher's.
    assert "celery@" not in (tmp_path / "up.log").read_text()

    # stderr, from every process and file descriptor 2 itself: JSON lines only.
    written = (tmp_path / "up.stderr").read_text().splitlines()
    raw = [line for line in written if line.strip() and not is_json_object(line)]
    assert raw == [], "\n".join(raw[:20])
    lines = [json.loads(line) for line in written if line.strip()]
    assert not [line for line in lines if line["logger"] == "native"]  # TensorFlow quiet
    # The job's lines carry its id: Celery's (received, succeeded) and the runner's ...
    jobs = [line for line in lines if line.get("job_id") == job_id]
    received, claimed, *_, done = jobs
    assert "received" in received["message"] and received["logger"].startswith("celery.")
    assert "claimed" in claimed["message"] and claimed["logger"] == "worker.runner"
    assert "succeeded in" in done["message"] and done["logger"] == "celery.app.trace"
    # ... and so does every other line logged while it ran, but the API's and the
    # worker's main process's.
    running = [line for line in lines if claimed["time"] <= line["time"] <= done["time"]]
    strays = [
        line
        for line in running
        if line.get("job_id") != job_id
        and "request_id" not in line
        and not line["logger"].startswith(NOT_THE_JOBS)
    ]
    assert strays == []


def is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid} (gone)"


def processes_configured_with(marker: str) -> list[int]:
    """Processes whose environment mentions ``marker`` (this test's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
