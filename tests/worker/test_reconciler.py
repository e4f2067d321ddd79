"""The reconciler and the claim, on a real (SQLite) database: which jobs are
re-queued, failed or re-sent, and that a duplicate delivery trains nothing."""

from collections.abc import Iterator
from datetime import timedelta

import pytest

from app.core.db import Database, upgrade_database
from app.core.settings import Settings
from app.core.types import utcnow
from app.jobs.models import Job, JobStatus
from tests.support.forks import Step, fork_while
from worker.reconciler import reconcile_once
from worker.runner import run_job

SETTINGS = Settings(stale_after_seconds=30, resend_after_seconds=60, max_attempts=3)


@pytest.fixture
def database(tmp_path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path}/sentiment.sqlite"
    upgrade_database(url)
    database = Database(url)
    yield database
    database.dispose()


def add_job(
    database: Database,
    status: JobStatus,
    attempts: int = 0,
    silent_for: float = 0,
    sent_ago: float = 0,
    sends: int = 1,
) -> str:
    now = utcnow()
    with database.session_scope() as session:
        job = Job(
            name="j",
            status=status,
            spec={},
            epochs_total=1,
            epochs_done=0,
            cancel_requested=False,
            attempts=attempts,
            sends=sends,
            worker="gone@host pid 1" if status == JobStatus.running else None,
            created_at=now,
            enqueued_at=now - timedelta(seconds=sent_ago),
            heartbeat_at=now - timedelta(seconds=silent_for)
            if status == JobStatus.running
            else None,
        )
        session.add(job)
        session.flush()
        return job.id


def row(database: Database, job_id: str) -> Job:
    with database.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def test_a_silent_running_job_is_requeued_and_resent(database):
    sent: list[str] = []
    silent = add_job(database, JobStatus.running, attempts=1, silent_for=120)
    alive = add_job(database, JobStatus.running, attempts=1, silent_for=1)
    counts = reconcile_once(database, SETTINGS, sent.append)
    assert counts == {"requeued": 1, "failed": 0, "resent": 0, "checkpoints_removed": 0}
    assert sent == [silent]
    requeued = row(database, silent)
    assert requeued.status == JobStatus.queued and requeued.worker is None
    assert row(database, alive).status == JobStatus.running


def test_a_job_out_of_attempts_fails_with_the_reason(database):
    sent: list[str] = []
    job_id = add_job(database, JobStatus.running, attempts=3, silent_for=120)
    assert reconcile_once(database, SETTINGS, sent.append)["failed"] == 1
    assert sent == []
    failed = row(database, job_id)
    assert failed.status == JobStatus.failed
    assert "gave up after 3 attempts" in (failed.error or "")


def test_a_queued_job_whose_message_is_old_is_sent_again_with_backoff(database):
    sent: list[str] = []
    lost = add_job(database, JobStatus.queued, sent_ago=120, sends=1)
    fresh = add_job(database, JobStatus.queued, sent_ago=5, sends=1)
    # Sent three times: the next send is due after 240 s.
    backing_off = add_job(database, JobStatus.queued, sent_ago=120, sends=3)
    reconcile_once(database, SETTINGS, sent.append)
    assert sent == [lost]
    assert row(database, lost).sends == 2
    assert {row(database, fresh).sends, row(database, backing_off).sends} == {1, 3}


def test_a_duplicate_delivery_trains_nothing(database):
    running = add_job(database, JobStatus.running, attempts=1, silent_for=1)
    cancelled = add_job(database, JobStatus.cancelled)
    assert run_job(running, "other@host pid 2", database, SETTINGS) is None
    assert run_job(cancelled, "other@host pid 2", database, SETTINGS) is None
    still_running, still_cancelled = row(database, running), row(database, cancelled)
    assert still_running.worker == "gone@host pid 1" and still_running.attempts == 1
    assert still_cancelled.status == JobStatus.cancelled and still_cancelled.attempts == 0


def test_its_process_forks_only_between_its_sends(database):
    add_job(database, JobStatus.queued, sent_ago=120, sends=1)

    def reconcile(step: Step) -> None:
        reconcile_once(database, SETTINGS, lambda _job_id: step())

    assert fork_while(reconcile) == ["step", "fork"]  # the fork waited for the send
