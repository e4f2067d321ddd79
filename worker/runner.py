"""Run one job to its end: take its lease, dispatch it (a training job or an
ensemble), and end it whatever happens (stopped, timed out, failed, taken over).

``worker/lease.py`` holds the lease and the watch thread; ``worker/training_job.py``
and ``worker/ensemble_job.py`` do each kind's work. TensorFlow is imported by
those, in the worker's child process, never by the parent.
"""

import logging
import time

from sqlalchemy.orm import Session

from app.core import logs
from app.core.db import Database
from app.core.settings import Settings
from app.jobs import lifecycle, repository
from app.jobs.models import TERMINAL, JobStatus
from app.jobs.progress import PHASE_NAMES
from app.registry import store
from app.specs.spec import EnsembleSpec, TrainingSpec, job_spec
from worker.ensemble_job import ensemble_and_record
from worker.lease import JobRun, JobWatch, LeaseLost
from worker.training.tracker import Tracker, TrainingStopped
from worker.training_job import train_and_record

logger = logging.getLogger(__name__)


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
            status = ensemble_and_record(run, spec, tracker)
        else:
            status = train_and_record(run, spec, watch, tracker, timed_out)
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
            store.open_store(run.settings).clear_checkpoints(run.job_id)
    return status


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

    return run.fail_timed_out(spec, run.write(epochs_done), {})
