"""Every transition of a job, and the only code that writes ``jobs.status``.

    queued -> running -> succeeded
       |         |---> failed      (error kept)
       |         '---> cancelled   (the worker's watch marks it within a poll)
       '-----------> cancelled     (at once)

    running -> queued              (its worker died: re-queued by the reconciler)

Each transition is one conditional UPDATE whose WHERE clause is its rule, and
answers whether it happened: two workers, two reconcilers or a user and a worker
may race for the same row, and exactly one wins. Workers hold a lease on a running
job (``jobs.worker``); their writes are conditioned on still holding it, so a
worker presumed dead can never write over its successor. Nothing here commits:
the caller's scope does.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, literal, select, update
from sqlalchemy.orm import Session

from app.core.types import UTCDateTime, utcnow
from app.jobs.models import TERMINAL, EpochMetric, Job, JobStatus

RESEND_BACKOFF_MOST = 32  # a job waiting in a long queue is re-sent at most every 32 waits


def new_job(**fields: Any) -> Job:
    """A queued job, sent once (its message goes out when the row is committed)."""
    now = utcnow()
    return Job(
        status=JobStatus.queued,
        epochs_done=0,
        cancel_requested=False,
        attempts=0,
        sends=1,
        created_at=now,
        enqueued_at=now,
        **fields,
    )


def claim(session: Session, job_id: str, worker: str) -> bool:
    """queued -> running, leased to ``worker``. False when it was not queued (already
    claimed, finished or cancelled): a duplicate delivery then does nothing.

    A job trained before (its worker died) keeps its recorded epochs until the new
    worker knows which it can resume from (:func:`rewind`).
    """
    now = utcnow()
    claimed = _changed(
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(
                status=JobStatus.running,
                started_at=now,
                heartbeat_at=now,
                worker=worker,
                attempts=Job.attempts + 1,
                progress=None,
            )
        )
    )
    return claimed


def rewind(session: Session, job_id: str, worker: str, epochs_kept: int) -> bool:
    """Keep the first ``epochs_kept`` recorded epochs (those the run resumes after,
    0 for a fresh start) and drop the rest, only while leased to ``worker``."""
    held = _changed(
        session.execute(
            update(Job)
            .where(_leased(job_id, worker))
            .values(
                epochs_done=epochs_kept,
                resumed_after_epoch=epochs_kept or None,
                heartbeat_at=utcnow(),
            )
        )
    )
    if held:
        session.execute(
            delete(EpochMetric).where(EpochMetric.job_id == job_id, EpochMetric.epoch > epochs_kept)
        )
    return held


def report_progress(
    session: Session,
    job_id: str,
    worker: str,
    progress: dict[str, Any] | None,
    checkpoint_bytes: int | None,
) -> bool:
    """Store where the run is (a ``PhaseProgress``) and its checkpoints' size, only
    while leased to ``worker``. Reporting renews the lease."""
    return _changed(
        session.execute(
            update(Job)
            .where(_leased(job_id, worker))
            .values(progress=progress, checkpoint_bytes=checkpoint_bytes, heartbeat_at=utcnow())
        )
    )


def _leased(job_id: str, worker: str) -> ColumnElement[bool]:
    return and_(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)


def heartbeat(session: Session, job_id: str, worker: str) -> bool:
    """Renew the lease; only while running and leased to ``worker``."""
    return _changed(
        session.execute(update(Job).where(_leased(job_id, worker)).values(heartbeat_at=utcnow()))
    )


def record_epoch(session: Session, job_id: str, worker: str, values: dict[str, Any]) -> bool:
    """Store one finished epoch, only while leased to ``worker``; each epoch once (the
    key is job and epoch). Recording renews the lease."""
    epoch = int(values["epoch"])
    held = _changed(
        session.execute(
            update(Job)
            .where(_leased(job_id, worker))
            .values(epochs_done=epoch, heartbeat_at=utcnow())
        )
    )
    if held and session.get(EpochMetric, (job_id, epoch)) is None:
        session.add(EpochMetric(job_id=job_id, **values))
    return held


def finish(session: Session, job_id: str, worker: str, status: JobStatus, **values: Any) -> bool:
    """running -> succeeded, failed or cancelled, by the worker that holds the lease,
    with what the run measured (``values``)."""
    if status not in TERMINAL:
        raise ValueError(f"a job finishes succeeded, failed or cancelled; received {status}")
    finished: datetime = utcnow()
    return _changed(
        session.execute(
            update(Job)
            .where(_leased(job_id, worker))
            .values(status=status, finished_at=finished, heartbeat_at=finished, **values)
        )
    )


def record_outcome(session: Session, job_id: str, **values: Any) -> None:
    """Attach what a run measured to a job that has already ended (its status stays)."""
    session.execute(update(Job).where(Job.id == job_id).values(**values))


def cancel(session: Session, job_id: str) -> JobStatus | None:
    """A user's cancel. queued -> cancelled at once; a running job is only flagged
    (``cancel_requested``), and its worker's watch ends it. Returns the status the job
    was in when the cancel took, or None when it had already ended."""
    now = utcnow()
    if _changed(
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(
                status=JobStatus.cancelled,
                cancel_requested=True,
                cancel_requested_at=now,
                finished_at=now,
            )
        )
    ):
        return JobStatus.queued
    if _changed(
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.running)
            .values(
                cancel_requested=True,
                # The first request's time: asking twice does not restart the clock.
                cancel_requested_at=func.coalesce(
                    Job.cancel_requested_at, literal(now, UTCDateTime())
                ),
            )
        )
    ):
        return JobStatus.running
    return None


def _unrenewed(job: Job) -> ColumnElement[bool]:
    """Still running, and nobody renewed its lease since ``job`` was read."""
    return and_(
        Job.id == job.id, Job.status == JobStatus.running, Job.heartbeat_at == job.heartbeat_at
    )


def requeue(session: Session, job: Job) -> bool:
    """running -> queued for a job whose worker died, only if nobody renewed its lease
    since ``job`` was read (its heartbeat is unchanged). Counts as a send."""
    return _changed(
        session.execute(
            update(Job)
            .where(_unrenewed(job))
            .values(
                status=JobStatus.queued,
                worker=None,
                started_at=None,
                enqueued_at=utcnow(),
                sends=Job.sends + 1,
            )
        )
    )


def give_up(session: Session, job: Job, reason: str) -> bool:
    """running -> failed for a job whose workers kept dying, only if nobody renewed its
    lease since ``job`` was read."""
    finished = utcnow()
    return _changed(
        session.execute(
            update(Job)
            .where(_unrenewed(job))
            .values(
                status=JobStatus.failed, error=reason, finished_at=finished, heartbeat_at=finished
            )
        )
    )


def due_for_resend(session: Session, now: datetime, resend_after: float) -> Sequence[Job]:
    """Queued jobs whose last message is old enough to have been lost. The wait doubles
    with each send (up to ``RESEND_BACKOFF_MOST`` times), so a job waiting in a long
    queue is not flooded."""
    queued = session.scalars(select(Job).where(Job.status == JobStatus.queued)).all()
    return [job for job in queued if _resend_due(job, now, resend_after)]


def _resend_due(job: Job, now: datetime, resend_after: float) -> bool:
    if job.enqueued_at is None:
        return True
    backoff = min(2 ** max(job.sends - 1, 0), RESEND_BACKOFF_MOST)
    return (now - job.enqueued_at).total_seconds() > resend_after * backoff


def resend(session: Session, job_id: str) -> bool:
    """Record that a queued job's message was sent again; only while it is queued."""
    return _changed(
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(enqueued_at=utcnow(), sends=Job.sends + 1)
        )
    )


def _changed(result: Any) -> bool:
    return int(getattr(result, "rowcount", 0)) == 1
