"""Real PostgreSQL, Redis and service processes for the tests.

Each test run gets its own PostgreSQL database and its own Celery queue, so runs
never see each other's jobs. Where PostgreSQL or Redis is not running the tests
that need them skip (fail under CI=true or SENTIMENT_REQUIRE_SERVICES=1).
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.skips import missing

PROJECT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = os.environ.get(
    "SENTIMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SENTIMENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for this run; yields its SQLAlchemy URL and drops it afterwards."""
    import psycopg

    name = f"sentiment_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        missing(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    try:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+psycopg://"
        )
        yield f"{base}/{name}"
    finally:
        # A new connection: a test may have restarted the server meanwhile.
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        missing(f"Redis is not reachable at {REDIS_URL}: {error}")
    return REDIS_URL


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> bool:
    """Wait for ``/readyz`` to answer 200; False if the process died or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    return False


# Reliability settings shortened for the tests that kill and stop things: a heartbeat
# each second, a job silent for 4 s presumed dead, the reconciler each second.
FAST_RELIABILITY = {
    "SENTIMENT_HEARTBEAT_SECONDS": "1",
    "SENTIMENT_STALE_AFTER_SECONDS": "4",
    "SENTIMENT_RECONCILE_SECONDS": "1",
    "SENTIMENT_RESEND_AFTER_SECONDS": "3",
    "SENTIMENT_DB_RETRY_SECONDS": "60",
}

# The operator's admin key the test stacks run with (SENTIMENT_ADMIN_KEY).
ADMIN_KEY = "snt_testadmin_" + "k" * 40
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


class Stack:
    """The API (uvicorn) and one Celery worker, as separate processes, each in its own
    process group, started in ``cwd`` (the project, unless a test makes a host of its own)."""

    def __init__(self, env: dict[str, str], logs: Path, cwd: Path = PROJECT) -> None:
        base = {
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1",
            "SENTIMENT_ADMIN_KEY": ADMIN_KEY,
        }
        self.env = os.environ | base | env
        self.logs, self.cwd = logs, cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def _start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches its children
        )
        self.processes.append(process)
        return process

    def start_api(self, name: str = "api") -> str:
        """Start an API process; the first serves ``self.url``, others a port of their own.
        Returns its URL."""
        port = self.port if name == "api" else free_port()
        self._start(
            name, "-m", "uvicorn", "app.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        if not wait_until_ready(url, self.processes[-1]):
            raise RuntimeError(f"the API did not start; its log:\n{self.log(name)[-3000:]}")
        return url

    def start_worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        saved = self.env
        self.env = saved | env
        try:
            return self._start(
                name, "-m", "celery", "-A", "worker.celery_app", "worker",
                "--loglevel", "INFO", "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h",
            )  # fmt: skip
        finally:
            self.env = saved

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """kill -9 the process and its children (a worker and its training child)."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def embedded_env(imdb_path: Path, data_dir: Path, folder: Path) -> dict[str, str]:
    """Settings for a stack on the embedded defaults (SQLite database and broker) in
    ``folder``, reading the real IMDB data and the session's caches."""
    return {
        "SENTIMENT_IMDB_PATH": str(Path(imdb_path).resolve()),
        "SENTIMENT_DATA_DIR": str(data_dir),
        "SENTIMENT_DATABASE_URL": f"sqlite:///{folder}/sentiment.sqlite",
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{folder}/broker.sqlite",
        "SENTIMENT_MODELS_STORE": str(folder / "models_store"),
        "SENTIMENT_CHAMPION_POLL_SECONDS": "0.5",
    }


@contextmanager
def running_stack(env: dict[str, str], logs: Path) -> Iterator[Stack]:
    stack = Stack(env, logs)
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


def wait_for_job(
    url: str,
    job_id: str,
    check: Callable[[dict[str, Any]], Any],
    seconds: float,
    what: str,
    logs: Callable[[], str],
) -> dict[str, Any]:
    """The job as ``GET /v1/jobs/{id}`` shows it once ``check`` holds; fails after
    ``seconds`` with ``logs()`` (the processes' log tails) in the message."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30, headers=ADMIN)
            current = dict(answer.json())
        except (httpx.TransportError, ValueError):
            current = {}
        if current and check(current):
            return current
        time.sleep(0.3)
    raise AssertionError(f"job {job_id}: not {what} within {seconds}s\n{logs()}")


def past_its_first_checkpoint(job: dict[str, Any]) -> bool:
    """Running, past epoch 1 and that epoch's checkpoint (an epoch is recorded just
    before its checkpoint is written: a kill between the two resumes from the one
    before)."""
    progress = job["progress"]
    return bool(
        job["status"] == "running" and progress["epoch"] >= 1 and progress["checkpoint_bytes"]
    )
