"""The jobs domain: submit, read, list and cancel training jobs."""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.keys import Principal
from app.db import after_commit
from app.errors import ApiError
from app.jobs import repository, spec_limits
from app.jobs.models import EpochMetric, Job, JobStatus
from app.jobs.schemas import EpochOut, JobOut, JobPage, Links, MetricsOut, Progress, Timings
from app.jobs.spec import TrainingSpec
from app.settings import Settings
from app.types import utcnow


def spec_hash(spec: TrainingSpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit(
    session: Session,
    spec: TrainingSpec,
    owner: Principal,
    idempotency_key: str | None,
    enqueue: Callable[[str], object],
    settings: Settings,
) -> tuple[Job, bool]:
    """Create a queued job owned by ``owner`` and send it to the workers once the row
    is committed.

    With an ``idempotency_key`` this owner already used for the same spec, answers
    that job instead (created False); the same key with another spec is a conflict.
    A spec over this server's limits is refused, and so is a job past the owner's
    quota of queued jobs.
    """
    spec_limits.enforce(spec, settings)
    request_hash = spec_hash(spec)
    if idempotency_key is not None:
        existing = repository.get_by_idempotency_key(session, owner.key_id, idempotency_key)
        if existing is not None:
            return _replayed(existing, request_hash), False
    _within_queue_quota(session, owner, settings.max_queued_jobs_per_key)
    job = Job(
        owner_key_id=owner.key_id,
        name=spec.name,
        status=JobStatus.queued,
        spec=spec.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        epochs_total=spec.epochs,
        epochs_done=0,
        cancel_requested=False,
        attempts=0,
        sends=1,
        created_at=utcnow(),
        enqueued_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        # A concurrent request with the same key committed first.
        existing = repository.get_by_idempotency_key(session, owner.key_id, idempotency_key or "")
        if existing is None:
            raise
        return _replayed(existing, request_hash), False
    job_id = job.id
    after_commit(session, lambda: enqueue(job_id))
    return job, True


def _within_queue_quota(session: Session, owner: Principal, quota: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Serialize one owner's submissions, so concurrent ones cannot overshoot the quota.
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:owner))"), {"owner": owner.key_id}
        )
    queued = repository.queued_count(session, owner.key_id)
    if queued >= quota:
        raise ApiError(
            429,
            "queue_quota_exceeded",
            f"This key already has {queued} jobs queued, the most it may have "
            f"(SENTIMENT_MAX_QUEUED_JOBS_PER_KEY={quota}); wait for some to start or cancel some.",
            headers={"Retry-After": "30"},
        )


def _replayed(job: Job, request_hash: str) -> Job:
    if job.request_hash != request_hash:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different spec "
            f"(job {job.id}); use a new key for a new job.",
        )
    return job


def get(session: Session, job_id: str, caller: Principal) -> Job:
    """The job, if ``caller`` may see it: its owner, or an admin. Another key's job
    answers 404, as if it did not exist, so ids cannot be probed."""
    job = repository.get(session, job_id)
    if job is None or not (caller.is_admin or job.owner_key_id == caller.key_id):
        raise ApiError(404, "job_not_found", f"No job with id {job_id!r}.")
    return job


def diagnosed(job: Job) -> dict[str, Any]:
    """The job's diagnosis; a 409 while it has none (it has not succeeded)."""
    if not job.diagnosis:
        raise ApiError(
            409,
            "no_diagnosis",
            f"Job {job.id} is {job.status}; follow-ups come from the diagnosis of a job "
            "that has succeeded.",
        )
    return job.diagnosis


def cancel(session: Session, job_id: str, caller: Principal) -> Job:
    """A queued job is cancelled at once. A running one is asked to stop: its worker
    marks it cancelled within a second and stops training after the current batch."""
    job = get(session, job_id, caller)
    if job.status == JobStatus.queued:
        job.status = JobStatus.cancelled
        job.cancel_requested = True
        job.cancel_requested_at = job.finished_at = utcnow()
    elif job.status == JobStatus.running:
        job.cancel_requested = True
        job.cancel_requested_at = job.cancel_requested_at or utcnow()
    else:
        raise ApiError(
            409,
            "job_finished",
            f"Job {job_id} is already {job.status}; only queued or running jobs can be cancelled.",
        )
    session.flush()
    return job


def metrics(session: Session, job_id: str, since_epoch: int, caller: Principal) -> MetricsOut:
    job = get(session, job_id, caller)
    return MetricsOut(
        job_id=job.id,
        status=JobStatus(job.status),
        epochs_total=job.epochs_total,
        epochs=[epoch_out(row) for row in repository.epochs(session, job_id, since_epoch)],
    )


def page(
    session: Session, caller: Principal, status: JobStatus | None, limit: int, offset: int
) -> JobPage:
    """The caller's jobs (an admin's page has everyone's)."""
    owner = None if caller.is_admin else caller.key_id
    jobs, total = repository.page(session, owner, status, limit, offset)
    ids = [job.id for job in jobs]
    latest = repository.latest_epochs(session, ids)
    best = repository.best_val_accuracies(session, ids)
    return JobPage(
        items=[job_out(job, latest.get(job.id), best.get(job.id)) for job in jobs],
        total=total,
        limit=limit,
        offset=offset,
    )


def describe(session: Session, job: Job) -> JobOut:
    latest = repository.latest_epochs(session, [job.id]).get(job.id)
    return job_out(job, latest, repository.best_val_accuracies(session, [job.id]).get(job.id))


def epoch_out(row: EpochMetric) -> EpochOut:
    return EpochOut.model_validate(row, from_attributes=True)


def job_out(job: Job, latest: EpochMetric | None, best_val_accuracy: float | None) -> JobOut:
    now, started, finished = utcnow(), job.started_at, job.finished_at
    return JobOut(
        id=job.id,
        name=job.name,
        status=JobStatus(job.status),
        progress=Progress(
            epoch=job.epochs_done,
            epochs=job.epochs_total,
            text=f"epoch {job.epochs_done} of {job.epochs_total}",
        ),
        spec=TrainingSpec.model_validate(job.spec),
        latest_epoch=epoch_out(latest) if latest else None,
        best_val_accuracy=best_val_accuracy,
        test_metrics=job.test_metrics,
        parameters=job.parameters,
        diagnosis=job.diagnosis,
        embedding_coverage=job.embedding_coverage,
        model_version=job.model_version,
        error=job.error,
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        owner=job.owner_key_id,
        worker=job.worker,
        timings=Timings(
            created_at=job.created_at,
            started_at=started,
            finished_at=finished,
            queued_seconds=_seconds(job.created_at, started or finished or now),
            running_seconds=_seconds(started, finished or now),
            cancel_requested_at=job.cancel_requested_at,
            cancel_seconds=_seconds(job.cancel_requested_at, finished)
            if job.status == JobStatus.cancelled
            else None,
        ),
        links=Links(
            self=f"/v1/jobs/{job.id}",
            metrics=f"/v1/jobs/{job.id}/metrics",
            cancel=f"/v1/jobs/{job.id}/cancel",
        ),
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)
