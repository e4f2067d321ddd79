"""Run one job: take its lease, train, record every epoch, register the model (or, for
an ensemble, load its members, evaluate their average and register it).

The job row is the truth. The worker holds a lease on it (``jobs.worker``) that a
watch thread renews every ``heartbeat_seconds``; every write it makes is a
transition of ``app/jobs/lifecycle.py`` conditioned on still holding that lease,
so a worker presumed dead and replaced can never write over its successor. Each
write is its own short transaction (a poller sees an epoch as soon as it ends),
retried while the database is briefly unreachable. TensorFlow is imported here,
in the worker's child process.
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
from app.jobs.models import TERMINAL, JobStatus
from app.jobs.progress import PHASE_NAMES, Phase, PhaseProgress
from app.jobs.spec import EnsembleSpec, TrainingSpec, job_spec
from app.registry import artifact, store
from app.registry import repository as versions
from app.registry import service as registry
from worker.training.progress import Tracker
from worker.training.stopping import TrainingStopped

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


class JobWatch(threading.Thread):
    """Watches the job's row beside the training: looks for a cancel request every
    ``cancel_poll_seconds``, writes the run's progress (the ``tracker``'s latest
    reading) when it moved, about every ``PROGRESS_SECONDS``, and renews the
    lease at least every ``heartbeat_seconds`` (a progress write renews it too).

    A cancel is recorded here, not by the training loop, so the row turns
    ``cancelled`` within a poll even while the training thread is busy; the
    training then stops at its next stop point (at most about a second away in
    every phase: see ``worker/training/progress.py``).
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


def run_job(job_id: str, worker: str, database: Database, settings: Settings) -> JobStatus | None:
    """Train job ``job_id`` to an end; returns its final status, or None when the job
    was not queued (a duplicate delivery, or cancelled before it started) or this
    worker lost it to another."""
    token = logs.job_id.set(job_id)  # every log line of this job carries its id
    try:
        return _run(JobRun(job_id, worker, database, settings))
    finally:
        logs.job_id.reset(token)


def _run(run: JobRun) -> JobStatus | None:
    def take(session: Session) -> TrainingSpec | EnsembleSpec | None:
        if not lifecycle.claim(session, run.job_id, run.worker):
            return None
        job = repository.get(session, run.job_id)
        return job_spec(job.spec) if job else None

    spec = run.write(take)
    if spec is None:
        logger.info("job %s is not queued; nothing to do", run.job_id)
        return None
    logger.info("job %s claimed by %s: training %s", run.job_id, run.worker, spec.name)
    started = time.monotonic()
    timed_out: list[bool] = []  # set when the time limit stops the job

    def should_stop() -> bool:
        if watch.ended:
            return True
        if time.monotonic() - started > run.settings.job_time_limit_seconds:
            timed_out.append(True)
            return True
        return False

    tracker = Tracker(should_stop)
    watch = JobWatch(run, tracker)
    watch.start()
    status: JobStatus | None = None
    try:
        if isinstance(spec, EnsembleSpec):
            status = _ensemble_and_record(run, spec, tracker)
        else:
            status = _train_and_record(run, spec, watch, tracker, timed_out)
    except TrainingStopped:
        status = _stopped_early(run, spec, watch, tracker)
    except LeaseLost:
        logger.warning("job %s was taken over by another worker; stopped", run.job_id)
    except Exception as error:
        logger.exception("job %s failed", run.job_id)
        run.finish(JobStatus.failed, error=f"{type(error).__name__}: {error}"[:4000])
        status = JobStatus.failed
    finally:
        watch.stop()
        if status in TERMINAL:  # a job taken over keeps its checkpoints for its new worker
            store.clear(store.checkpoint_path(run.settings.models_store, run.job_id))
    return status


def _train_and_record(
    run: JobRun, spec: TrainingSpec, watch: JobWatch, tracker: Tracker, timed_out: list[bool]
) -> JobStatus:
    from worker.training.callbacks import EpochMetrics
    from worker.training.checkpoints import Checkpoints
    from worker.training.export import export_saved_model
    from worker.training.pipeline import train

    settings, job_id = run.settings, run.job_id

    def on_epoch(metrics: EpochMetrics) -> None:
        if not run.write(lambda s: lifecycle.record_epoch(s, job_id, run.worker, vars(metrics))):
            raise LeaseLost(job_id)

    def on_resume(epochs_kept: int) -> None:
        if epochs_kept:
            logger.info("job %s resumes after epoch %d", job_id, epochs_kept)
        if not run.write(lambda s: lifecycle.rewind(s, job_id, run.worker, epochs_kept)):
            raise LeaseLost(job_id)

    checkpoints = Checkpoints(store.checkpoint_path(settings.models_store, job_id), spec)
    result = train(
        spec,
        settings,
        on_epoch=on_epoch,
        tracker=tracker,
        checkpoints=checkpoints,
        on_resume=on_resume,
    )
    outcome: dict[str, Any] = {
        "parameters": result.parameters,
        "embedding_coverage": result.embedding_coverage,
        "timings": result.timings,
    }
    if watch.lost.is_set():
        raise LeaseLost(job_id)
    if watch.cancelled.is_set():
        # The watch already marked the row cancelled; record what the run measured.
        run.write(lambda s: lifecycle.record_outcome(s, job_id, **outcome))
        logger.info("job %s cancelled after %d epochs", job_id, len(result.history))
        return JobStatus.cancelled
    if timed_out:
        return _fail_timed_out(run, spec, len(result.history), outcome)

    assert result.test_metrics is not None
    test_metrics = result.test_metrics
    tracker.start(Phase.exporting)
    staged = store.staging_path(settings.models_store, job_id)
    store.clear(staged)  # left over by an interrupted attempt
    metadata = result.manifest_metadata() | {"job_id": job_id}
    export_saved_model(result.model, result.vocabulary, spec, metadata, staged)
    tracker.start(Phase.registering)
    diagnosis = result.summary()["diagnosis"]
    return _register(run, spec.name, staged, test_metrics, diagnosis=diagnosis, **outcome)


@dataclass(frozen=True)
class Member:
    version: int
    weight: float
    name: str
    path: str
    manifest_sha256: str


def _ensemble_and_record(run: JobRun, spec: EnsembleSpec, tracker: Tracker) -> JobStatus:
    """Load the members, evaluate their average on the whole test set, export it as
    one SavedModel and register it. It goes through a job's phases (building: loading
    the members, first, so a broken one fails the job at once; reading_data,
    evaluating, exporting, registering), each a stop point, and ends like a trained
    job, without epochs or a diagnosis."""
    from worker.training.data import load_imdb, review_count
    from worker.training.ensemble import Ensemble, evaluate, load_member
    from worker.training.export import export_ensemble

    settings, job_id = run.settings, run.job_id
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def read_members(session: Session) -> list[Member]:
        found = []
        for version, weight in zip(spec.members, spec.weights, strict=True):
            row = versions.get(session, version)
            if row is None:
                raise ValueError(f"member version {version} is not registered")
            found.append(Member(version, weight, row.name, row.path, row.manifest_sha256))
        return found

    members = run.write(read_members)
    tracker.start(Phase.building, len(members), "models")
    loaded = []
    for count, member in enumerate(members, 1):
        folder = store.resolve(settings.models_store, member.path)
        loaded.append(load_member(member.version, folder))
        tracker.advance(count)
    ensemble = Ensemble(loaded, [member.weight for member in members])
    timings["load_seconds"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    tracker.start(Phase.reading_data, review_count(include_unsup=False), "reviews")
    test = load_imdb(settings.imdb_path, on_read=tracker.advance).test
    timings["read_seconds"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    test_metrics = evaluate(ensemble, test.texts, test.labels, tracker)
    timings["evaluate_seconds"] = round(time.perf_counter() - clock, 3)

    tracker.start(Phase.exporting)  # a stop point: a cancel that came after the last batch
    clock = time.perf_counter()
    staged = store.staging_path(settings.models_store, job_id)
    store.clear(staged)  # left over by an interrupted attempt
    metadata = {
        "test": test_metrics,
        artifact.MEMBERS: [
            artifact.member(m.version, m.weight, m.name, m.manifest_sha256) for m in members
        ],
        "job_id": job_id,
    }
    export_ensemble(ensemble, spec, metadata, staged)
    timings["export_seconds"] = round(time.perf_counter() - clock, 3)
    tracker.start(Phase.registering)
    weighted = [{"version": m.version, "weight": m.weight} for m in members]
    return _register(run, spec.name, staged, test_metrics, members=weighted, timings=timings)


def _register(
    run: JobRun,
    name: str,
    staged: Path,
    test_metrics: dict[str, float],
    members: list[dict[str, Any]] | None = None,
    **outcome: Any,
) -> JobStatus:
    """Register the staged export as a new version and end the job succeeded with
    ``outcome``, in one transaction: a lost lease rolls the registration back."""

    def register(session: Session) -> int:
        settings = run.settings
        version = registry.register(
            session, run.job_id, name, staged, test_metrics, settings.models_store, members
        )
        held = lifecycle.finish(
            session,
            run.job_id,
            run.worker,
            JobStatus.succeeded,
            test_metrics=test_metrics,
            model_version=version.version,
            **outcome,
        )
        if not held:
            raise LeaseLost(run.job_id)
        return version.version

    version = run.write(register)
    logger.info("job %s succeeded: model version %d", run.job_id, version)
    return JobStatus.succeeded


def _stopped_early(
    run: JobRun, spec: TrainingSpec | EnsembleSpec, watch: JobWatch, tracker: Tracker
) -> JobStatus | None:
    """The job was stopped outside its epochs: preparing, or evaluating."""
    reading = tracker.snapshot()
    phase = PHASE_NAMES[reading.phase] if reading else "starting"
    if watch.cancelled.is_set():
        logger.info("job %s cancelled while %s", run.job_id, phase)
        return JobStatus.cancelled
    if watch.lost.is_set():
        logger.warning("job %s was taken over by another worker; stopped", run.job_id)
        return None

    def epochs_done(session: Session) -> int:
        job = repository.get(session, run.job_id)
        return job.epochs_done if job else 0

    return _fail_timed_out(run, spec, run.write(epochs_done), {})


def _fail_timed_out(
    run: JobRun, spec: TrainingSpec | EnsembleSpec, epochs: int, outcome: dict[str, Any]
) -> JobStatus:
    limit = run.settings.job_time_limit_seconds
    reason = f"exceeded the time limit of {limit:g} s (SENTIMENT_JOB_TIME_LIMIT_SECONDS)"
    if isinstance(spec, TrainingSpec):
        reason += f" after {epochs} of {spec.epochs} epochs"
    run.finish(JobStatus.failed, error=reason, **outcome)
    return JobStatus.failed
