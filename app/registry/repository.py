"""Queries of the registry domain."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.models import Job
from app.registry.models import ModelAlias, ModelVersion

CHAMPION = "champion"


def best(session: Session) -> ModelVersion | None:
    """The version with the best test accuracy; ties go to the newest."""
    return session.scalar(
        select(ModelVersion)
        .order_by(ModelVersion.test_accuracy.desc(), ModelVersion.version.desc())
        .limit(1)
    )


def champion(session: Session) -> tuple[ModelVersion, bool] | None:
    """The serving version and whether it is pinned: the ``champion`` alias, else the best."""
    pinned = session.scalar(
        select(ModelVersion).join(ModelAlias, ModelAlias.version == ModelVersion.version)
        .where(ModelAlias.alias == CHAMPION)
    )  # fmt: skip
    if pinned is not None:
        return pinned, True
    row = best(session)
    return (row, False) if row is not None else None


def get(session: Session, version: int) -> ModelVersion | None:
    return session.get(ModelVersion, version)


def for_job(session: Session, job_id: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.job_id == job_id))


def all_versions(session: Session) -> Sequence[ModelVersion]:
    return session.scalars(select(ModelVersion).order_by(ModelVersion.version.desc())).all()


def job_owners(session: Session, job_ids: Sequence[str]) -> dict[str, str | None]:
    """The key that submitted each job, in one query."""
    if not job_ids:
        return {}
    rows = session.execute(select(Job.id, Job.owner_key_id).where(Job.id.in_(job_ids))).all()
    return {job_id: owner for job_id, owner in rows}


def aliases(session: Session) -> Sequence[ModelAlias]:
    return session.scalars(select(ModelAlias).order_by(ModelAlias.alias)).all()


def get_alias(session: Session, alias: str) -> ModelAlias | None:
    return session.get(ModelAlias, alias)
