"""The API (and a worker) as separate processes for the benchmarks that go through
HTTP, on the embedded defaults in a scratch folder, with an operator key."""

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:  # the benchmarks set the environment before the app is imported
    from app.core.settings import Settings
    from app.specs.spec import TrainingSpec

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(folder: Path, env: dict[str, str], name: str, *command: str) -> subprocess.Popen[bytes]:
    log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([sys.executable, *command], cwd=PROJECT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip


def embedded_env(folder: Path, **extra: str) -> tuple[dict[str, str], str]:
    """The environment of a service in ``folder`` (SQLite database and broker, this
    checkout's data), and its admin key."""
    key = "snt_bench_" + secrets.token_urlsafe(32)
    env = os.environ | {
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SENTIMENT_DATABASE_URL": f"sqlite:///{folder}/sentiment.sqlite",
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{folder}/broker.sqlite",
        "SENTIMENT_MODELS_STORE": str(folder / "models_store"),
        "SENTIMENT_DATA_DIR": str(PROJECT / "data"),
        "SENTIMENT_IMDB_PATH": str(PROJECT / "data" / "aclImdb"),
        "SENTIMENT_ADMIN_KEY": key,
    }
    return env | extra, key


def start_api(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """The API on a free port; returns the process and its URL once it answers."""
    port = free_port()
    api = start(folder, env, "api", "-m", "uvicorn", "app.main:create_app", "--factory",
                "--port", str(port))  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return api, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    api.terminate()
    raise RuntimeError(f"the API did not start; see {folder / 'api.log'}")


def train_and_register(spec: "TrainingSpec", settings: "Settings") -> str:
    """Train ``spec`` through the worker's own code path (submitted, run, registered) on
    ``settings``' database, migrated first; returns the champion's path in the store."""
    from app.auth.keys import Principal
    from app.auth.models import Scope
    from app.core.db import Database, upgrade_database
    from app.jobs import service as jobs
    from app.registry import repository
    from worker.runner import run_job

    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    owner = Principal("bench", "bench", frozenset({Scope.admin}))
    with database.session_scope() as session:
        job, _ = jobs.submit(session, spec, owner, None, lambda _: None, settings)
        job_id = job.id
    run_job(job_id, "bench", database, settings)
    with database.session_scope() as session:
        found = repository.champion(session)
        assert found is not None, f"{spec.name} did not register"
        return found[0].path
