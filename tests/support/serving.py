"""Real SavedModels for the serving tests: one tiny model trained on real reviews,
exported and registered as many versions as a test needs (as the worker does),
behind a real API process."""

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import sessionmaker

from app.core.db import build_engine
from app.core.types import utcnow
from app.jobs.models import Job, JobStatus
from app.registry import service as registry
from app.registry import store
from tests.support.services import ADMIN, PROJECT, Stack
from tests.support.skips import missing


def register_copy(
    database_url: str,
    models_store: str | Path | store.ModelStore,
    exported: Path,
    accuracy: float,
    corrupt: bool = False,
    owner: str | None = None,
    members: list[int] | None = None,
) -> int:
    """Register a copy of ``exported`` as a new version with the given test accuracy,
    trained by a job of ``owner`` (a key's id).

    ``corrupt`` flips one byte of its weights after the manifest was written;
    ``members`` registers it as the equal-weight ensemble of those versions (its row;
    its files stay the copy's).
    """
    job_id = str(uuid.uuid4())
    models = (
        models_store
        if isinstance(models_store, store.ModelStore)
        else store.local_store(Path(models_store))
    )
    staged = models.staging_path(job_id)
    shutil.copytree(exported, staged)
    if corrupt:
        weights = next((staged / "variables").glob("*.data-*"))
        content = bytearray(weights.read_bytes())
        content[len(content) // 2] ^= 0xFF
        weights.write_bytes(bytes(content))
    engine = build_engine(database_url)
    try:
        with sessionmaker(bind=engine)() as session, session.begin():
            session.add(
                Job(
                    id=job_id,
                    name=f"served-{accuracy}",
                    status=JobStatus.succeeded,
                    spec={},
                    epochs_total=1,
                    epochs_done=1,
                    cancel_requested=False,
                    attempts=1,
                    owner_key_id=owner,
                    created_at=utcnow(),
                )
            )
            session.flush()
            metrics = {"accuracy": accuracy, "loss": 0.5}
            given = members or []
            listed = [{"version": version, "weight": 1 / len(given)} for version in given]
            row = registry.register(
                session, job_id, f"served-{accuracy}", staged, metrics, models, listed or None
            )
            return row.version
    finally:
        engine.dispose()


class Api:
    """A running API process on its own SQLite database and models store."""

    def __init__(self, stack: Stack, database_url: str, models_store: Path, exported: Path):
        self.stack, self.database_url = stack, database_url
        self.models_store, self.exported = models_store, exported
        self.url = stack.url

    def register(self, accuracy: float, corrupt: bool = False, folder: Path | None = None) -> int:
        """A copy of the module's exported model (or of ``folder``) as a new version."""
        copied = folder or self.exported
        return register_copy(self.database_url, self.models_store, copied, accuracy, corrupt)

    def ready(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/readyz", timeout=10, headers=ADMIN).json())

    def serving_version(self) -> int | None:
        version = self.ready()["checks"]["champion"]["serving_version"]
        return int(version) if version is not None else None


@contextmanager
def serving_api(exported: Path, folder: Path, **env: str) -> Iterator[Api]:
    """The API on SQLite in ``folder``, polling for a new champion every half second."""
    database_url = f"sqlite:///{folder}/sentiment.sqlite"
    base = {
        "SENTIMENT_DATABASE_URL": database_url,
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{folder}/broker.sqlite",
        "SENTIMENT_MODELS_STORE": str(folder / "models_store"),
        "SENTIMENT_CHAMPION_POLL_SECONDS": "0.5",
    }
    stack = Stack(base | env, folder)
    try:
        stack.start_api()
        yield Api(stack, database_url, folder / "models_store", exported)
    finally:
        stack.stop()


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds}s: {what}")


KSERVE_PYTHON = PROJECT / ".venv-kserve" / "bin" / "python"


def kserve_v1_calls(given: dict[str, Any]) -> dict[str, Any]:
    """What KServe's REST client answers for ``given`` (``tests/support/kserve_client.py``
    says what it calls), run by the Python of its own venv (the Makefile's)."""
    if not KSERVE_PYTHON.exists():
        missing("KServe's client is not installed: run `make .venv-kserve/.installed`")
    completed = subprocess.run(
        [str(KSERVE_PYTHON), str(PROJECT / "tests" / "support" / "kserve_client.py")],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))
