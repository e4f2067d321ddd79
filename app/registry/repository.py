"""Queries of the registry domain."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.registry.models import ModelVersion


def best(session: Session) -> ModelVersion | None:
    """The version with the best test accuracy; ties go to the newest."""
    return session.scalar(
        select(ModelVersion)
        .order_by(ModelVersion.test_accuracy.desc(), ModelVersion.version.desc())
        .limit(1)
    )


def get(session: Session, version: int) -> ModelVersion | None:
    return session.get(ModelVersion, version)


def for_job(session: Session, job_id: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.job_id == job_id))


def all_versions(session: Session) -> Sequence[ModelVersion]:
    return session.scalars(select(ModelVersion).order_by(ModelVersion.version.desc())).all()
