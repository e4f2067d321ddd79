"""Real SavedModels for the serving tests: one tiny model trained on real reviews,
exported and registered as many versions as a test needs (as the worker does)."""

import shutil
import uuid
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from app.db import build_engine
from app.jobs.models import Job, JobStatus
from app.registry import service as registry
from app.registry import store
from app.types import utcnow


def register_copy(
    database_url: str, models_store: Path, exported: Path, accuracy: float, corrupt: bool = False
) -> int:
    """Register a copy of ``exported`` as a new version with the given test accuracy.

    ``corrupt`` flips one byte of its weights after the manifest was written.
    """
    job_id = str(uuid.uuid4())
    staged = store.staging_path(models_store, job_id)
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
                    created_at=utcnow(),
                )
            )
            session.flush()
            metrics = {"accuracy": accuracy, "loss": 0.5}
            row = registry.register(
                session, job_id, f"served-{accuracy}", staged, metrics, models_store
            )
            return row.version
    finally:
        engine.dispose()
