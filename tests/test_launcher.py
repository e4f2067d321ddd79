"""`make up` (``python -m app``): one command runs the API and a worker on the embedded
default, trains a job, and stops both processes on Ctrl-C."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.services import PROJECT, free_port, wait_until_ready
from tests.worker.training.conftest import QUICK_DENSE_JOB


def test_make_up_serves_trains_and_stops(imdb_path, session_data_dir, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SENTIMENT_ADMIN_KEY"} | {
        "SENTIMENT_IMDB_PATH": str(Path(imdb_path).resolve()),
        "SENTIMENT_DATA_DIR": str(session_data_dir),
        "SENTIMENT_MODELS_STORE": str(tmp_path / "models_store"),
        "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp_path}/sentiment.sqlite",
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.sqlite",
        "SENTIMENT_PORT": str(port),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    launcher = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_ready(url, launcher), (tmp_path / "up.log").read_text()[-3000:]
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
        assert status == "succeeded", (tmp_path / "up.log").read_text()[-3000:]
        printed = (tmp_path / "up.log").read_text()
        assert f"Service ready: http://127.0.0.1:{port}/" in printed
        assert "curl -s -X POST" in printed
        started = processes_configured_with(str(tmp_path))
        assert len(started) >= 2  # the launcher (serving the API) and the worker
    finally:
        launcher.send_signal(signal.SIGINT)
        code = launcher.wait(timeout=60)
    assert code == 0
    assert processes_configured_with(str(tmp_path)) == []  # the worker stopped with the API


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
