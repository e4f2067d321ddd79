"""A training job, run: train with a checkpoint each epoch (resuming from the last
one), record every epoch under the lease, export the SavedModel and register it."""

import logging
import shutil
from typing import Any

from app.jobs import lifecycle
from app.jobs.models import JobStatus
from app.jobs.progress import Phase
from app.registry import store
from app.specs.spec import TrainingSpec
from worker.lease import JobRun, JobWatch, LeaseLost
from worker.training.records import EpochMetrics
from worker.training.tracker import Tracker

logger = logging.getLogger(__name__)


def train_and_record(
    run: JobRun, spec: TrainingSpec, watch: JobWatch, tracker: Tracker, timed_out: list[bool]
) -> JobStatus:
    # TensorFlow is imported here, in the job's child process, never by the parent.
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

    models = store.open_store(settings)
    checkpoints = Checkpoints(models, job_id, spec)
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
        return run.fail_timed_out(spec, len(result.history), outcome)

    assert result.test_metrics is not None
    test_metrics = result.test_metrics
    tracker.start(Phase.exporting)
    staged = models.staging_path(job_id)
    shutil.rmtree(staged, ignore_errors=True)  # left over by an interrupted attempt
    metadata = result.manifest_metadata() | {"job_id": job_id}
    export_saved_model(
        result.model,
        result.vocabulary,
        spec,
        metadata,
        staged,
        temperature=result.temperature,
        explain_steps=settings.explain_steps,
    )
    tracker.start(Phase.registering)
    diagnosis = result.summary()["diagnosis"]
    return run.register(
        spec.name,
        staged,
        test_metrics,
        diagnosis=diagnosis,
        reliability=result.reliability,
        drivers=result.drivers,
        **outcome,
    )
