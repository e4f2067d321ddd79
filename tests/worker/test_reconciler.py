"""The reconciler and the claim, on a real (SQLite) database: which jobs are
re-queued, failed or re-sent, and that a duplicate delivery trains nothing."""

from collections.abc import Iterator
from datetime import timedelta

import pytest

from app.db import session_scope, upgrade_database
from app.jobs.models import Job, JobStatus
from app.settings import get_settings
from app.types import utcnow
from tests.app.conftest import reset_caches
from worker.reconciler import reconcile_once
from worker.runner import run_job


@pytest.fixture
def database(tmp_path, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", f"sqlite:///{tmp_path}/sentiment.sqlite")
    monkeypatch.setenv("SENTIMENT_STALE_AFTER_SECONDS", "30")
    monkeypatch.setenv("SENTIMENT_RESEND_AFTER_SECONDS", "60")
    monkeypatch.setenv("SENTIMENT_MAX_ATTEMPTS", "3")
    reset_caches()
    upgrade_database()
    yield
    reset_caches()


def add_job(
    status: JobStatus, attempts: int = 0, silent_for: float = 0, sent_ago: float = 0, sends: int = 1
) -> str:
    now = utcnow()
    with session_scope() as session:
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


def row(job_id: str) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def test_a_silent_running_job_is_requeued_and_resent(database):
    sent: list[str] = []
    silent = add_job(JobStatus.running, attempts=1, silent_for=120)
    alive = add_job(JobStatus.running, attempts=1, silent_for=1)
    assert reconcile_once(get_settings(), sent.append) == {"requeued": 1, "failed": 0, "resent": 0}
    assert sent == [silent]
    assert row(silent).status == JobStatus.queued and row(silent).worker is None
    assert row(alive).status == JobStatus.running


def test_a_job_out_of_attempts_fails_with_the_reason(database):
    sent: list[str] = []
    job_id = add_job(JobStatus.running, attempts=3, silent_for=120)
    assert reconcile_once(get_settings(), sent.append)["failed"] == 1
    assert sent == []
    failed = row(job_id)
    assert failed.status == JobStatus.failed
    assert "gave up after 3 attempts" in (failed.error or "")


def test_a_queued_job_whose_message_is_old_is_sent_again_with_backoff(database):
    sent: list[str] = []
    lost = add_job(JobStatus.queued, sent_ago=120, sends=1)
    fresh = add_job(JobStatus.queued, sent_ago=5, sends=1)
    backing_off = add_job(JobStatus.queued, sent_ago=120, sends=3)  # next send after 240 s
    reconcile_once(get_settings(), sent.append)
    assert sent == [lost]
    assert row(lost).sends == 2
    assert {row(fresh).sends, row(backing_off).sends} == {1, 3}


def test_a_duplicate_delivery_trains_nothing(database):
    running = add_job(JobStatus.running, attempts=1, silent_for=1)
    cancelled = add_job(JobStatus.cancelled)
    assert run_job(running, worker="other@host pid 2") is None
    assert run_job(cancelled, worker="other@host pid 2") is None
    assert row(running).worker == "gone@host pid 1" and row(running).attempts == 1
    assert row(cancelled).status == JobStatus.cancelled and row(cancelled).attempts == 0
