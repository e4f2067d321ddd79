"""The model registry: register complete artifacts, pin aliases, pick the champion."""

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.errors import ApiError
from app.registry import repository, store
from app.registry.models import ModelAlias, ModelVersion
from app.registry.schemas import AliasOut, Champion, ModelVersionOut, ModelVersionPage
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


def champion(session: Session) -> Champion | None:
    found = repository.champion(session)
    if found is None:
        return None
    row, pinned = found
    return Champion(version=row.version, reason="pinned" if pinned else "best test accuracy")


def list_versions(session: Session, root: Path) -> ModelVersionPage:
    current = champion(session)
    names: dict[int, list[str]] = {}
    for alias in repository.aliases(session):
        names.setdefault(alias.version, []).append(alias.alias)
    return ModelVersionPage(
        items=[
            version_out(row, root, names.get(row.version, []), current)
            for row in repository.all_versions(session)
        ],
        champion=current,
    )


def get_version(session: Session, version: int, root: Path) -> ModelVersionOut:
    row = _existing_version(session, version)
    names = [alias.alias for alias in repository.aliases(session) if alias.version == version]
    return version_out(row, root, names, champion(session))


def version_out(
    row: ModelVersion, root: Path, aliases: list[str], current: Champion | None
) -> ModelVersionOut:
    present = (Path(root) / row.path / store.MANIFEST).is_file()
    return ModelVersionOut(
        version=row.version,
        name=row.name,
        job_id=row.job_id,
        status="ready" if present else "missing",
        path=row.path,
        test_metrics=row.metrics,
        aliases=aliases,
        created_at=row.created_at,
        champion=current is not None and current.version == row.version,
    )


def pin(session: Session, alias: str, version: int) -> AliasOut:
    _existing_version(session, version)
    row = repository.get_alias(session, alias)
    if row is None:
        row = ModelAlias(alias=alias, version=version, updated_at=utcnow())
        session.add(row)
    else:
        row.version, row.updated_at = version, utcnow()
    session.flush()
    return AliasOut(alias=row.alias, version=row.version, updated_at=row.updated_at)


def unpin(session: Session, alias: str) -> None:
    row = repository.get_alias(session, alias)
    if row is None:
        raise ApiError(404, "alias_not_found", f"No alias {alias!r} is set.")
    session.delete(row)
    session.flush()


def _existing_version(session: Session, version: int) -> ModelVersion:
    row = repository.get(session, version)
    if row is None:
        raise ApiError(404, "model_not_found", f"No model version {version}.")
    return row
