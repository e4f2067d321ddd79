"""Queries of the jobs domain. Nothing here commits: the caller's scope does."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session

from app.jobs.models import EpochMetric, Job, JobStatus
from app.types import utcnow


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


def claim(session: Session, job_id: str, worker: str) -> bool:
    """Take the lease on a queued job for ``worker``. False when it was not queued
    (already claimed, finished or cancelled): a duplicate delivery then does nothing.

    A job trained before (its worker died) restarts cleanly: its old epochs go.
    """
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
            epochs_done=0,
        )
    )
    if _rowcount(result) != 1:
        return False
    session.execute(delete(EpochMetric).where(EpochMetric.job_id == job_id))
    return True


def _leased(job_id: str, worker: str) -> ColumnElement[bool]:
    return and_(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)


def heartbeat(session: Session, job_id: str, worker: str) -> bool:
    """Renew the lease; False when this worker no longer holds it."""
    result = session.execute(
        update(Job).where(_leased(job_id, worker)).values(heartbeat_at=utcnow())
    )
    return _rowcount(result) == 1


def record_epoch(session: Session, job_id: str, worker: str, values: dict[str, Any]) -> bool:
    """Store one finished epoch (once: the key is job and epoch) while holding the lease."""
    epoch = int(values["epoch"])
    result = session.execute(
        update(Job).where(_leased(job_id, worker)).values(epochs_done=epoch, heartbeat_at=utcnow())
    )
    if _rowcount(result) != 1:
        return False
    if session.get(EpochMetric, (job_id, epoch)) is None:
        session.add(EpochMetric(job_id=job_id, **values))
    return True


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


def finish(
    session: Session, job_id: str, status: JobStatus, worker: str | None = None, **values: Any
) -> bool:
    """End a job. With ``worker``, only while that worker holds the lease."""
    condition = _leased(job_id, worker) if worker is not None else Job.id == job_id
    finished: datetime = utcnow()
    result = session.execute(
        update(Job)
        .where(condition)
        .values(status=status, finished_at=finished, heartbeat_at=finished, **values)
    )
    return _rowcount(result) == 1


def record_outcome(session: Session, job_id: str, **values: Any) -> None:
    """Attach what a run measured to a job that has already ended."""
    session.execute(update(Job).where(Job.id == job_id).values(**values))


def stale(session: Session, silent_since: datetime) -> Sequence[Job]:
    """Running jobs whose lease was last renewed before ``silent_since``."""
    return session.scalars(
        select(Job).where(Job.status == JobStatus.running, Job.heartbeat_at < silent_since)
    ).all()


def requeue(session: Session, job: Job) -> bool:
    """Put a job whose worker died back in the queue, if nobody renewed it meanwhile."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == job.id, Job.status == JobStatus.running, Job.heartbeat_at == job.heartbeat_at
        )
        .values(status=JobStatus.queued, worker=None, started_at=None)
    )
    return _rowcount(result) == 1


def unsent(session: Session, now: datetime, resend_after: float) -> Sequence[Job]:
    """Queued jobs whose last message is old enough to have been lost. The wait doubles
    with each send (at most 32 times), so a job waiting in a long queue is not flooded."""
    queued = session.scalars(select(Job).where(Job.status == JobStatus.queued)).all()
    return [job for job in queued if _resend_due(job, now, resend_after)]


def _resend_due(job: Job, now: datetime, resend_after: float) -> bool:
    if job.enqueued_at is None:
        return True
    backoff = 2 ** min(max(job.sends - 1, 0), 5)  # 1, 2, 4, ... 32 times resend_after
    return (now - job.enqueued_at).total_seconds() > resend_after * backoff


def mark_sent(session: Session, job_id: str) -> None:
    session.execute(
        update(Job).where(Job.id == job_id).values(enqueued_at=utcnow(), sends=Job.sends + 1)
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))
