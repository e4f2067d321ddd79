"""Run one training job: claim the row, train, record every epoch, register the model.

Each database write is its own short transaction, so a poller sees an epoch as
soon as it ends. TensorFlow is imported here, inside the worker's child process.
"""

import logging
from typing import Any

from app.db import session_scope
from app.jobs import repository
from app.jobs.models import JobStatus
from app.jobs.spec import TrainingSpec
from app.registry import service as registry
from app.registry import store
from app.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def run_job(job_id: str, worker: str, settings: Settings | None = None) -> JobStatus | None:
    """Train job ``job_id`` to an end; returns its final status, or None when the job
    was not queued (a duplicate delivery, or cancelled before it started)."""
    settings = settings or get_settings()
    with session_scope() as session:
        if not repository.claim(session, job_id, worker):
            logger.info("job %s is not queued; nothing to do", job_id)
            return None
        job = repository.get(session, job_id)
        assert job is not None
        spec = TrainingSpec.model_validate(job.spec)
    logger.info("job %s claimed by %s: training %s", job_id, worker, spec.name)
    try:
        return _train_and_record(job_id, spec, settings)
    except Exception as error:
        logger.exception("job %s failed", job_id)
        message = f"{type(error).__name__}: {error}"
        with session_scope() as session:
            repository.finish(session, job_id, JobStatus.failed, error=message[:4000])
        return JobStatus.failed


def _train_and_record(job_id: str, spec: TrainingSpec, settings: Settings) -> JobStatus:
    from worker.training.callbacks import EpochMetrics
    from worker.training.export import export_saved_model
    from worker.training.pipeline import train

    def on_epoch(metrics: EpochMetrics) -> None:
        with session_scope() as session:
            repository.record_epoch(session, job_id, vars(metrics))

    def should_stop() -> bool:
        with session_scope() as session:
            return repository.cancel_requested(session, job_id)

    result = train(spec, settings, on_epoch=on_epoch, should_stop=should_stop)
    outcome: dict[str, Any] = {
        "parameters": result.parameters,
        "embedding_coverage": result.embedding_coverage,
        "timings": result.timings,
    }
    if result.cancelled:
        with session_scope() as session:
            repository.finish(session, job_id, JobStatus.cancelled, **outcome)
        logger.info("job %s cancelled after %d epochs", job_id, len(result.history))
        return JobStatus.cancelled

    assert result.test_metrics is not None
    staged = store.staging_path(settings.models_store, job_id)
    store.clear(staged)  # left over by an interrupted attempt
    metadata = result.manifest_metadata() | {"job_id": job_id}
    export_saved_model(result.model, result.vocabulary, spec, metadata, staged)
    with session_scope() as session:
        version = registry.register(
            session, job_id, spec.name, staged, result.test_metrics, settings.models_store
        )
        repository.finish(
            session,
            job_id,
            JobStatus.succeeded,
            test_metrics=result.test_metrics,
            diagnosis=result.summary()["diagnosis"],
            model_version=version.version,
            **outcome,
        )
    logger.info("job %s succeeded: model version %d", job_id, version.version)
    return JobStatus.succeeded
