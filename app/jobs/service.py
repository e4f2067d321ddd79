"""The jobs domain: submit (a spec, a recipe, a follow-up), read, list and cancel jobs.

Functions answer domain objects (rows, ``JobDetails``) and raise domain errors; the
routers shape the answers (``JobOut.of``).
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.keys import Principal
from app.core.db import after_commit
from app.core.errors import Conflict, ErrorCode, NotFound, TooMany
from app.core.settings import Settings
from app.jobs import lifecycle, repository
from app.jobs.models import EpochMetric, Job, JobStatus
from app.specs import followups, limits, recipes
from app.specs.overrides import with_overrides
from app.specs.spec import EnsembleSpec, TrainingSpec, job_spec

Send = Callable[[str], object]  # sends a committed job's id to the workers


@dataclass(frozen=True)
class JobDetails:
    """A job with what its answer shows of its epochs."""

    job: Job
    latest_epoch: EpochMetric | None
    best_val_accuracy: float | None


@dataclass(frozen=True)
class Submission:
    details: JobDetails
    created: bool  # False: an Idempotency-Key replayed an existing job


@dataclass(frozen=True)
class FollowUps:
    job_id: str
    fit: str
    suggestions: list[followups.Suggestion]


def spec_hash(spec: TrainingSpec | EnsembleSpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit(
    session: Session,
    spec: TrainingSpec | EnsembleSpec,
    owner: Principal,
    idempotency_key: str | None,
    send: Send,
    settings: Settings,
) -> tuple[Job, bool]:
    """Create a queued job owned by ``owner`` and send it to the workers once the row
    is committed.

    With an ``idempotency_key`` this owner already used for the same spec, answers
    that job instead (created False); the same key with another spec is a conflict.
    A spec over this server's limits is refused, and so is a job past the owner's
    quota of queued jobs. An ensemble's members are checked by the registry
    (``app/registry/service.py``), which submits it.
    """
    if isinstance(spec, TrainingSpec):
        limits.enforce(spec, settings)
    request_hash = spec_hash(spec)
    if idempotency_key is not None:
        existing = repository.get_by_idempotency_key(session, owner.key_id, idempotency_key)
        if existing is not None:
            return _replayed(existing, request_hash), False
    _within_queue_quota(session, owner, settings.max_queued_jobs_per_key)
    job = lifecycle.new_job(
        owner_key_id=owner.key_id,
        name=spec.name,
        spec=spec.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        epochs_total=spec.epochs if isinstance(spec, TrainingSpec) else 0,  # ensembles: none
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
    after_commit(session, lambda: send(job_id))
    return job, True


def submit_spec(
    session: Session,
    spec: TrainingSpec | EnsembleSpec,
    owner: Principal,
    idempotency_key: str | None,
    send: Send,
    settings: Settings,
) -> Submission:
    """``submit``, answered with the job's details."""
    job, created = submit(session, spec, owner, idempotency_key, send, settings)
    return Submission(details(session, job), created)


def submit_recipe(
    session: Session,
    name: str,
    overrides: dict[str, Any],
    owner: Principal,
    idempotency_key: str | None,
    send: Send,
    settings: Settings,
) -> Submission:
    recipe = recipes.find(name)
    spec = with_overrides(recipe.spec, overrides, f"The recipe {name!r} with these overrides")
    return submit_spec(session, spec, owner, idempotency_key, send, settings)


def follow_ups(session: Session, job_id: str, caller: Principal) -> FollowUps:
    job = visible(session, job_id, caller)
    diagnosis = _diagnosis(job)
    spec = TrainingSpec.model_validate(job.spec)
    return FollowUps(job.id, diagnosis["fit"], followups.suggestions(spec, diagnosis))


def submit_follow_up(
    session: Session,
    job_id: str,
    suggestion: str,
    caller: Principal,
    send: Send,
    settings: Settings,
) -> Submission:
    job = visible(session, job_id, caller)
    diagnosis = _diagnosis(job)
    chosen = followups.choose(TrainingSpec.model_validate(job.spec), diagnosis, suggestion)
    return submit_spec(session, chosen.spec, caller, None, send, settings)


def _within_queue_quota(session: Session, owner: Principal, quota: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Serialize one owner's submissions, so concurrent ones cannot overshoot the quota.
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:owner))"), {"owner": owner.key_id}
        )
    queued = repository.queued_count(session, owner.key_id)
    if queued >= quota:
        raise TooMany(
            ErrorCode.QUEUE_QUOTA_EXCEEDED,
            f"This key already has {queued} jobs queued, the most it may have "
            f"(SENTIMENT_MAX_QUEUED_JOBS_PER_KEY={quota}); wait for some to start or cancel some.",
            retry_after=30,
        )


def _replayed(job: Job, request_hash: str) -> Job:
    if job.request_hash != request_hash:
        raise Conflict(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was already used for a different spec "
            f"(job {job.id}); use a new key for a new job.",
        )
    return job


def visible(session: Session, job_id: str, caller: Principal) -> Job:
    """The job, if ``caller`` may see it: its owner, or an admin. Another key's job
    is not found, as if it did not exist, so ids cannot be probed."""
    job = repository.get(session, job_id)
    if job is None or not caller.may_see(job.owner_key_id):
        raise NotFound(ErrorCode.JOB_NOT_FOUND, f"No job with id {job_id!r}.")
    return job


def get(session: Session, job_id: str, caller: Principal) -> JobDetails:
    return details(session, visible(session, job_id, caller))


def _diagnosis(job: Job) -> dict[str, Any]:
    """The job's diagnosis; a conflict while it has none (it has not succeeded)."""
    if isinstance(job_spec(job.spec), EnsembleSpec):
        raise Conflict(
            ErrorCode.NO_DIAGNOSIS,
            f"Job {job.id} is an ensemble: it trains nothing, so it has no learning curves "
            "to diagnose and no follow-ups.",
        )
    if not job.diagnosis:
        raise Conflict(
            ErrorCode.NO_DIAGNOSIS,
            f"Job {job.id} is {job.status}; follow-ups come from the diagnosis of a job "
            "that has succeeded.",
        )
    return job.diagnosis


def cancel(session: Session, job_id: str, caller: Principal) -> JobDetails:
    """A queued job is cancelled at once. A running one is asked to stop: its worker
    marks it cancelled within a second and stops training after the current batch."""
    job = visible(session, job_id, caller)
    if lifecycle.cancel(session, job_id) is None:
        session.refresh(job)  # it may have ended since it was read
        raise Conflict(
            ErrorCode.JOB_FINISHED,
            f"Job {job_id} is already {job.status}; only queued or running jobs can be cancelled.",
        )
    session.refresh(job)
    return details(session, job)


def metrics(
    session: Session, job_id: str, since_epoch: int, caller: Principal
) -> tuple[Job, Sequence[EpochMetric]]:
    job = visible(session, job_id, caller)
    return job, repository.epochs(session, job_id, since_epoch)


def page(
    session: Session, caller: Principal, status: JobStatus | None, limit: int, offset: int
) -> tuple[list[JobDetails], int]:
    """The caller's jobs (an admin's page has everyone's), and how many there are."""
    owner = None if caller.is_admin else caller.key_id
    jobs, total = repository.page(session, owner, status, limit, offset)
    return details_of(session, jobs), total


def details(session: Session, job: Job) -> JobDetails:
    return details_of(session, [job])[0]


def details_of(session: Session, jobs: Sequence[Job]) -> list[JobDetails]:
    """Each job's details, in two queries for them all."""
    ids = [job.id for job in jobs]
    latest = repository.latest_epochs(session, ids)
    best = repository.best_val_accuracies(session, ids)
    return [JobDetails(job, latest.get(job.id), best.get(job.id)) for job in jobs]
