"""A job as one worker runs it: the lease on its row and the watch that keeps it.

The job row is the truth. The worker holds a lease on it (``jobs.worker``) that the
watch thread renews every ``heartbeat_seconds``; every write the worker makes is a
transition of ``app/jobs/lifecycle.py`` conditioned on still holding that lease, so
a worker presumed dead and replaced can never write over its successor. Each write
is its own short transaction (a poller sees an epoch as soon as it ends), retried
while the database is briefly unreachable.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.core import logs
from app.core.db import Database
from app.core.settings import Settings
from app.jobs import lifecycle, repository
from app.jobs.models import JobStatus
from app.jobs.progress import PhaseProgress
from app.registry import service as registry
from app.registry import store
from app.specs.spec import EnsembleSpec, TrainingSpec
from worker.training.tracker import Tracker

logger = logging.getLogger(__name__)
T = TypeVar("T")
# A job's progress is written when it moved, at most every PROGRESS_SECONDS: under a
# second apart, so two polls a second apart see it move.
PROGRESS_SECONDS = 0.5
WATCH_TICK_SECONDS = 0.25


class LeaseLost(RuntimeError):
    """Another worker (or the reconciler) took the job over."""


@dataclass(frozen=True)
class JobRun:
    """One job as this worker runs it: the row's id, the lease holder, where to write."""

    job_id: str
    worker: str
    database: Database
    settings: Settings

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction, retrying for up to ``db_retry_seconds`` while
        the database is unreachable."""
        deadline = time.monotonic() + self.settings.db_retry_seconds
        pause = 0.5
        while True:
            try:
                with self.database.session_scope() as session:
                    return work(session)
            except (OperationalError, InterfaceError) as error:
                if time.monotonic() >= deadline:
                    raise
                logger.warning("database unreachable (%s); retrying in %.1fs", error, pause)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def finish(self, status: JobStatus, **values: Any) -> bool:
        return self.write(lambda s: lifecycle.finish(s, self.job_id, self.worker, status, **values))

    def register(
        self,
        name: str,
        staged: Path,
        test_metrics: dict[str, float],
        members: list[dict[str, Any]] | None = None,
        **outcome: Any,
    ) -> JobStatus:
        """Register the staged export as a new version and end the job succeeded with
        ``outcome``, in one transaction: a lost lease rolls the registration back."""

        def register_in(session: Session) -> int:
            settings = self.settings
            version = registry.register(
                session,
                self.job_id,
                name,
                staged,
                test_metrics,
                store.open_store(settings),
                members,
            )
            held = lifecycle.finish(
                session,
                self.job_id,
                self.worker,
                JobStatus.succeeded,
                test_metrics=test_metrics,
                model_version=version.version,
                **outcome,
            )
            if not held:
                raise LeaseLost(self.job_id)
            return version.version

        version = self.write(register_in)
        logger.info("job %s succeeded: model version %d", self.job_id, version)
        return JobStatus.succeeded

    def fail_timed_out(
        self, spec: TrainingSpec | EnsembleSpec, epochs: int, outcome: dict[str, Any]
    ) -> JobStatus:
        """End the job failed: it ran past ``job_time_limit_seconds`` after ``epochs``."""
        limit = self.settings.job_time_limit_seconds
        reason = f"exceeded the time limit of {limit:g} s (SENTIMENT_JOB_TIME_LIMIT_SECONDS)"
        if isinstance(spec, TrainingSpec):
            reason += f" after {epochs} of {spec.epochs} epochs"
        self.finish(JobStatus.failed, error=reason, **outcome)
        return JobStatus.failed


class JobWatch(threading.Thread):
    """Watches the job's row beside the training: looks for a cancel request every
    ``cancel_poll_seconds``, writes the run's progress (the ``tracker``'s latest
    reading) when it moved, about every ``PROGRESS_SECONDS``, and renews the
    lease at least every ``heartbeat_seconds`` (a progress write renews it too).

    A cancel is recorded here, not by the training loop, so the row turns
    ``cancelled`` within a poll even while the training thread is busy; the
    training then stops at its next stop point (at most about a second away in
    every phase: see ``worker/training/tracker.py``).
    """

    def __init__(self, run: JobRun, tracker: Tracker) -> None:
        super().__init__(name=f"job-watch-{run.job_id[:8]}", daemon=True)
        self.job = run
        self.tracker = tracker
        self.lost = threading.Event()
        self.cancelled = threading.Event()
        self._halt = threading.Event()
        self._reported: tuple[Any, ...] | None = None

    def run(self) -> None:
        job_id, settings = self.job.job_id, self.job.settings
        logs.job_id.set(job_id)  # a thread starts with a context of its own
        renewed = reported = polled = time.monotonic()
        while not self._halt.wait(WATCH_TICK_SECONDS):
            try:
                now = time.monotonic()
                if now - polled >= settings.cancel_poll_seconds:
                    polled = now
                    if self._cancel_requested():
                        self._record_cancel()
                        return
                due = now - renewed >= settings.heartbeat_seconds
                if due or (now - reported >= PROGRESS_SECONDS and self._moved()):
                    if not self.report():
                        self.lost.set()
                        return
                    renewed = reported = time.monotonic()
            except (OperationalError, InterfaceError) as error:
                logger.warning("watching job %s failed: %s", job_id, error)

    def _moved(self) -> bool:
        return _reading_of(self.tracker.snapshot(), self.tracker.checkpoint_bytes) != self._reported

    def report(self) -> bool:
        """Write the progress (and renew the lease); False when the lease is gone."""
        snapshot, size = self.tracker.snapshot(), self.tracker.checkpoint_bytes
        with self.job.database.session_scope() as session:
            held = lifecycle.report_progress(
                session,
                self.job.job_id,
                self.job.worker,
                snapshot.to_json() if snapshot else None,
                size,
            )
        self._reported = _reading_of(snapshot, size)
        return held

    def _cancel_requested(self) -> bool:
        with self.job.database.session_scope() as session:
            return repository.cancel_requested(session, self.job.job_id)

    def _record_cancel(self) -> None:
        if self.job.finish(JobStatus.cancelled):
            self.cancelled.set()
        else:
            self.lost.set()  # finished or taken over by someone else

    @property
    def ended(self) -> bool:
        return self.lost.is_set() or self.cancelled.is_set()

    def stop(self) -> None:
        self._halt.set()


def _reading_of(snapshot: PhaseProgress | None, checkpoint_bytes: int | None) -> tuple[Any, ...]:
    """What a progress write says, its timings aside: written again only when it changes."""
    return (snapshot and (snapshot.phase, snapshot.done, snapshot.epoch), checkpoint_bytes)
