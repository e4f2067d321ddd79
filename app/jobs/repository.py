"""Reads of the jobs domain. Every write of a job's state is in ``lifecycle.py``."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.jobs.models import EpochMetric, Job, JobStatus


def get(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def get_by_idempotency_key(session: Session, owner: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.owner_key_id == owner, Job.idempotency_key == key))


def queued_count(session: Session, owner: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(Job.owner_key_id == owner, Job.status == JobStatus.queued)
        )
        or 0
    )


def page(
    session: Session, owner: str | None, status: JobStatus | None, limit: int, offset: int
) -> tuple[Sequence[Job], int]:
    """A page of jobs, newest first; only ``owner``'s unless owner is None."""
    query = select(Job)
    if owner is not None:
        query = query.where(Job.owner_key_id == owner)
    if status is not None:
        query = query.where(Job.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = session.scalars(
        query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    ).all()
    return jobs, total


def epochs(session: Session, job_id: str, since_epoch: int = 0) -> Sequence[EpochMetric]:
    return session.scalars(
        select(EpochMetric)
        .where(EpochMetric.job_id == job_id, EpochMetric.epoch > since_epoch)
        .order_by(EpochMetric.epoch)
    ).all()


def latest_epochs(session: Session, job_ids: Sequence[str]) -> dict[str, EpochMetric]:
    """The last recorded epoch of each job, in one query."""
    if not job_ids:
        return {}
    last = (
        select(EpochMetric.job_id, func.max(EpochMetric.epoch).label("epoch"))
        .where(EpochMetric.job_id.in_(job_ids))
        .group_by(EpochMetric.job_id)
        .subquery()
    )
    rows = session.scalars(
        select(EpochMetric).join(
            last, (EpochMetric.job_id == last.c.job_id) & (EpochMetric.epoch == last.c.epoch)
        )
    ).all()
    return {row.job_id: row for row in rows}


def best_val_accuracies(session: Session, job_ids: Sequence[str]) -> dict[str, float]:
    """The best validation accuracy of each job's epochs so far, in one query."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(EpochMetric.job_id, func.max(EpochMetric.val_accuracy))
        .where(EpochMetric.job_id.in_(job_ids))
        .group_by(EpochMetric.job_id)
    ).all()
    return {job_id: float(best) for job_id, best in rows}


def cancel_requested(session: Session, job_id: str) -> bool:
    row = session.execute(
        select(Job.status, Job.cancel_requested).where(Job.id == job_id)
    ).one_or_none()
    return row is None or row.cancel_requested or row.status != JobStatus.running


def stale(session: Session, silent_since: datetime) -> Sequence[Job]:
    """Running jobs whose lease was last renewed before ``silent_since``."""
    return session.scalars(
        select(Job).where(Job.status == JobStatus.running, Job.heartbeat_at < silent_since)
    ).all()


def unfinished(session: Session, job_ids: Sequence[str]) -> set[str]:
    """Those of ``job_ids`` that are still queued or running."""
    if not job_ids:
        return set()
    rows = session.scalars(
        select(Job.id).where(
            Job.id.in_(job_ids), Job.status.in_([JobStatus.queued, JobStatus.running])
        )
    )
    return set(rows)
