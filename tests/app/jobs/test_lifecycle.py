"""Every transition of ``app/jobs/lifecycle.py`` from every start state, with and without
the lease, on SQLite and PostgreSQL: which ones happen, and what the row says after.

Each case starts from a fresh job row in one of the start states below (a running job
leased to ``me``), applies one transition as worker ``me`` (or as the reconciler, which
holds no lease), and compares what the transition answered and the row's status with
the table. A transition that does not happen must leave the row as it was.
"""

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.core.db import Database, upgrade_database
from app.core.types import utcnow
from app.jobs import lifecycle
from app.jobs.models import EpochMetric, Job, JobStatus
from tests.support.services import postgres_database

ME, OTHER = "worker-me", "worker-other"
EPOCH = {"epoch": 1, "loss": 0.6, "accuracy": 0.7, "val_loss": 0.65, "val_accuracy": 0.68,
         "seconds": 1.5}  # fmt: skip

# Start states: a status, and for a running job who holds its lease.
START = {
    "queued": (JobStatus.queued, None),
    "running, leased to me": (JobStatus.running, ME),
    "running, leased to another": (JobStatus.running, OTHER),
    "succeeded": (JobStatus.succeeded, ME),
    "failed": (JobStatus.failed, ME),
    "cancelled": (JobStatus.cancelled, None),
}


def _requeue(session: Session, job: Job) -> bool:
    return lifecycle.requeue(session, job)


def _give_up(session: Session, job: Job) -> bool:
    return lifecycle.give_up(session, job, "its workers kept dying")


def _cancel(session: Session, job: Job) -> bool:
    return lifecycle.cancel(session, job.id) is not None


# Each transition, called as worker ``me`` (or as the reconciler, with the row it read).
TRANSITIONS: dict[str, Callable[[Session, Job], bool]] = {
    "claim": lambda s, job: lifecycle.claim(s, job.id, ME),
    "rewind": lambda s, job: lifecycle.rewind(s, job.id, ME, 0),
    "report_progress": lambda s, job: lifecycle.report_progress(s, job.id, ME, None, 10),
    "heartbeat": lambda s, job: lifecycle.heartbeat(s, job.id, ME),
    "record_epoch": lambda s, job: lifecycle.record_epoch(s, job.id, ME, EPOCH),
    "finish succeeded": lambda s, job: lifecycle.finish(s, job.id, ME, JobStatus.succeeded),
    "finish failed": lambda s, job: lifecycle.finish(s, job.id, ME, JobStatus.failed),
    "finish cancelled": lambda s, job: lifecycle.finish(s, job.id, ME, JobStatus.cancelled),
    "cancel": _cancel,
    "requeue": _requeue,
    "give_up": _give_up,
    "resend": lambda s, job: lifecycle.resend(s, job.id),
}

Q, R, S, F, C = (JobStatus.queued, JobStatus.running, JobStatus.succeeded,
                 JobStatus.failed, JobStatus.cancelled)  # fmt: skip
# transition -> the status it leaves, from each start state where it happens; from
# every other start state it answers False and changes nothing.
HAPPENS: dict[str, dict[str, JobStatus]] = {
    "claim": {"queued": R},
    # The lease holder's writes: only on a running job leased to it.
    "rewind": {"running, leased to me": R},
    "report_progress": {"running, leased to me": R},
    "heartbeat": {"running, leased to me": R},
    "record_epoch": {"running, leased to me": R},
    "finish succeeded": {"running, leased to me": S},
    "finish failed": {"running, leased to me": F},
    "finish cancelled": {"running, leased to me": C},
    # A user's cancel: a queued job at once; a running one is only flagged.
    "cancel": {"queued": C, "running, leased to me": R, "running, leased to another": R},
    # The reconciler's: any running job whose lease nobody renewed since it was read.
    "requeue": {"running, leased to me": Q, "running, leased to another": Q},
    "give_up": {"running, leased to me": F, "running, leased to another": F},
    "resend": {"queued": Q},
}
CASES = [
    pytest.param(transition, start, HAPPENS[transition].get(start), id=f"{transition}-{start}")
    for transition in TRANSITIONS
    for start in START
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Database]:  # fmt: skip
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('lifecycle')}/jobs.sqlite"
        yield from _migrated(url)
    else:
        with postgres_database() as url:
            yield from _migrated(url)


def _migrated(url: str) -> Iterator[Database]:
    upgrade_database(url)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def job_in(database: Database, start: str) -> str:
    status, worker = START[start]
    now = utcnow() - timedelta(minutes=5)
    with database.session_scope() as session:
        job = lifecycle.new_job(name=f"from {start}", spec={}, epochs_total=3)
        job.status, job.worker = status, worker
        if status != JobStatus.queued:
            job.started_at = job.heartbeat_at = now
            job.attempts = 1
        job.enqueued_at = now
        session.add(job)
        session.flush()
        return job.id


def row(database: Database, job_id: str) -> dict[str, Any]:
    with database.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        values = {column: getattr(job, column) for column in Job.__table__.columns.keys()}  # noqa: SIM118 (names, not columns)
        values["epochs"] = len(session.query(EpochMetric).filter_by(job_id=job_id).all())
        return values


@pytest.mark.parametrize(("transition", "start", "expected"), CASES)
def test_each_transition_from_each_state(
    database: Database, transition: str, start: str, expected: JobStatus | None
) -> None:
    job_id = job_in(database, start)
    before = row(database, job_id)
    with database.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        happened = TRANSITIONS[transition](session, job)
    after = row(database, job_id)
    if expected is None:
        assert happened is False
        assert after == before  # not a field changed
        return
    assert happened is True
    assert after["status"] == expected
    assert after != before


def test_a_claimed_job_is_leased_and_counted(database: Database) -> None:
    job_id = job_in(database, "queued")
    with database.session_scope() as session:
        assert lifecycle.claim(session, job_id, ME)
    after = row(database, job_id)
    assert (after["worker"], after["attempts"], after["progress"]) == (ME, 1, None)
    with database.session_scope() as session:  # a duplicate delivery finds it claimed
        assert not lifecycle.claim(session, job_id, OTHER)
    assert row(database, job_id)["worker"] == ME


def test_an_epoch_is_recorded_once_and_a_rewind_drops_the_later_ones(database: Database) -> None:
    job_id = job_in(database, "running, leased to me")
    for epoch in (1, 2, 2):  # the second 2: a retried write after a blink of the database
        with database.session_scope() as session:
            assert lifecycle.record_epoch(session, job_id, ME, EPOCH | {"epoch": epoch})
    assert (row(database, job_id)["epochs"], row(database, job_id)["epochs_done"]) == (2, 2)
    with database.session_scope() as session:
        assert lifecycle.rewind(session, job_id, ME, 1)
    after = row(database, job_id)
    assert (after["epochs"], after["epochs_done"], after["resumed_after_epoch"]) == (1, 1, 1)


def test_a_requeue_loses_to_a_renewed_lease(database: Database) -> None:
    job_id = job_in(database, "running, leased to me")
    with database.session_scope() as session:
        read_by_reconciler = session.get(Job, job_id)
        assert read_by_reconciler is not None
        session.expunge(read_by_reconciler)
    with database.session_scope() as session:  # the worker renews after the read
        assert lifecycle.heartbeat(session, job_id, ME)
    with database.session_scope() as session:
        assert not lifecycle.requeue(session, read_by_reconciler)
        assert not lifecycle.give_up(session, read_by_reconciler, "too late")
    assert row(database, job_id)["status"] == JobStatus.running


def test_a_cancel_of_a_running_job_keeps_the_first_requests_time(database: Database) -> None:
    job_id = job_in(database, "running, leased to me")
    with database.session_scope() as session:
        assert lifecycle.cancel(session, job_id) == JobStatus.running
    first = row(database, job_id)["cancel_requested_at"]
    with database.session_scope() as session:
        assert lifecycle.cancel(session, job_id) == JobStatus.running
    after = row(database, job_id)
    assert after["cancel_requested"] is True and after["cancel_requested_at"] == first


def test_finish_takes_only_an_ending_status(database: Database) -> None:
    job_id = job_in(database, "running, leased to me")
    with database.session_scope() as session, pytest.raises(ValueError, match="finishes"):
        lifecycle.finish(session, job_id, ME, JobStatus.queued)
