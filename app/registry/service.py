"""The model registry: register complete artifacts, pick the champion, list versions."""

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.errors import ApiError
from app.registry import repository, store
from app.registry.models import ModelVersion
from app.registry.schemas import ModelVersionOut, ModelVersionPage
from app.types import utcnow


def register(
    session: Session, job_id: str, name: str, staged: Path, metrics: dict[str, Any], root: Path
) -> ModelVersion:
    """Give a complete export its version number and move it into place.

    The row is flushed first (for its number), then the folder is renamed; the
    caller's commit makes both visible. A job registers at most one version.
    """
    existing = repository.for_job(session, job_id)
    if existing is not None:
        store.clear(staged)
        return existing
    row = ModelVersion(
        job_id=job_id,
        name=name,
        path="",
        test_accuracy=float(metrics["accuracy"]),
        metrics=metrics,
        manifest_sha256=store.sha256_of(staged / store.MANIFEST),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    store.publish(staged, root, row.version)
    row.path = store.relative_version_path(row.version)
    session.flush()
    return row


def champion(session: Session) -> ModelVersion | None:
    return repository.best(session)


def version_out(row: ModelVersion, champion_version: int | None) -> ModelVersionOut:
    return ModelVersionOut(
        version=row.version,
        name=row.name,
        job_id=row.job_id,
        path=row.path,
        test_metrics=row.metrics,
        created_at=row.created_at,
        champion=row.version == champion_version,
    )


def list_versions(session: Session) -> ModelVersionPage:
    best = repository.best(session)
    best_version = best.version if best else None
    return ModelVersionPage(
        items=[version_out(row, best_version) for row in repository.all_versions(session)],
        champion=best_version,
        champion_reason="best test accuracy" if best else None,
    )


def get_version(session: Session, version: int) -> ModelVersionOut:
    row = repository.get(session, version)
    if row is None:
        raise ApiError(404, "model_not_found", f"No model version {version}.")
    best = repository.best(session)
    return version_out(row, best.version if best else None)
