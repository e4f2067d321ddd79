"""How a job's progress reads (``Progress.of``), from the row the worker writes."""

from datetime import UTC, datetime

from app.jobs.models import Job, JobStatus
from app.jobs.progress import Phase, PhaseProgress
from app.jobs.schemas import Progress


def running_job(phase: Phase, epoch: int | None, done: int, total: int) -> Job:
    now = datetime.now(UTC)
    reading = PhaseProgress(phase, done, total, "batches", 41.0, None, epoch, now, now)
    return Job(status=JobStatus.running, epochs_done=1, epochs_total=4, progress=reading.to_json())


def test_while_training_the_text_names_the_epoch_under_way():
    progress = Progress.of(running_job(Phase.training, 2, 206, 500))
    assert progress.text == "epoch 2 of 4, 1 done; training: 206 of 500 batches, 41.0/s"
    assert (progress.epoch, progress.training_epoch) == (1, 2)


def test_outside_training_the_text_counts_the_epochs_finished():
    progress = Progress.of(running_job(Phase.evaluating, None, 300, 1000))
    assert progress.text == "epoch 1 of 4; evaluating: 300 of 1,000 batches, 41.0/s"
