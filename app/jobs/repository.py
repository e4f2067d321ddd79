"""Queries of the jobs domain. Nothing here commits: the caller's scope does."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.jobs.models import EpochMetric, Job, JobStatus
from app.types import utcnow


def get(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def get_by_idempotency_key(session: Session, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.idempotency_key == key))


def page(
    session: Session, status: JobStatus | None, limit: int, offset: int
) -> tuple[Sequence[Job], int]:
    query = select(Job)
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


def claim(session: Session, job_id: str, worker: str) -> bool:
    """Move a queued job to running for ``worker``. False when it was not queued
    (already claimed, finished or cancelled): a duplicate delivery then does nothing."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.queued)
        .values(
            status=JobStatus.running,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            attempts=Job.attempts + 1,
        )
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def record_epoch(session: Session, job_id: str, values: dict[str, Any]) -> None:
    """Store one finished epoch (once: the key is job and epoch) and the job's progress."""
    epoch = int(values["epoch"])
    if session.get(EpochMetric, (job_id, epoch)) is None:
        session.add(EpochMetric(job_id=job_id, **values))
    session.execute(
        update(Job).where(Job.id == job_id).values(epochs_done=epoch, heartbeat_at=utcnow())
    )


def cancel_requested(session: Session, job_id: str) -> bool:
    row = session.execute(
        select(Job.status, Job.cancel_requested).where(Job.id == job_id)
    ).one_or_none()
    return row is None or row.cancel_requested or row.status != JobStatus.running


def finish(session: Session, job_id: str, status: JobStatus, **values: Any) -> None:
    finished: datetime = utcnow()
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=status, finished_at=finished, heartbeat_at=finished, **values)
    )
