"""What the jobs API answers."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import utcnow
from app.jobs.models import EpochMetric, Job, JobStatus
from app.jobs.progress import Phase, PhaseProgress
from app.jobs.service import FollowUps, JobDetails
from app.specs.followups import Suggestion
from app.specs.spec import EnsembleSpec, TrainingSpec, job_spec


class EpochOut(BaseModel):
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    recorded_at: datetime

    @classmethod
    def of(cls, row: EpochMetric) -> "EpochOut":
        return cls.model_validate(row, from_attributes=True)


class Progress(BaseModel):
    """Where the job is: epochs finished and, while it runs, its phase and the count
    within it (written by the worker whenever it moved, at most every half second)."""

    epoch: int = Field(description="Epochs finished.")
    epochs: int = Field(description="Epochs the spec asks for.")
    text: str = Field(
        description="'epoch k of n' (epochs finished), and while running the phase; while "
        "training, the epoch under way: 'epoch 3 of 6, 2 done; training: 1,210 of 3,750 "
        "batches, 41.0/s, about 1 min 2 s left'."
    )
    phase: Phase | None = Field(
        None,
        description="While running: reading_data, vectorizing, training_word_vectors, "
        "building, training, evaluating, explaining, exporting or registering.",
    )
    done: int | None = Field(None, description="Units of the phase done.")
    total: int | None = Field(None, description="Units in the phase; null when it has no measure.")
    unit: str | None = Field(None, description="reviews, sentences or batches.")
    fraction: float | None = Field(None, description="done / total, 0 to 1.")
    rate: float | None = Field(None, description="Units per second since the phase began.")
    eta_seconds: float | None = Field(None, description="Estimated seconds left in the phase.")
    training_epoch: int | None = Field(None, description="The epoch under way, while training.")
    resumed_after_epoch: int | None = Field(
        None, description="Epochs kept from an earlier attempt whose worker died."
    )
    checkpoint_bytes: int | None = Field(
        None, description="Size of the job's newest checkpoint (removed when the job ends)."
    )
    updated_at: datetime | None = Field(None, description="When the worker last reported.")

    @classmethod
    def of(cls, job: Job) -> "Progress":
        # An ensemble trains no epochs: its phases are all there is to tell.
        text = f"epoch {job.epochs_done} of {job.epochs_total}" if job.epochs_total else ""
        reading = (
            PhaseProgress.from_json(job.progress)
            if job.progress and job.status == JobStatus.running
            else None
        )
        common = {
            "epoch": job.epochs_done,
            "epochs": job.epochs_total,
            "resumed_after_epoch": job.resumed_after_epoch,
            "checkpoint_bytes": job.checkpoint_bytes,
        }
        if reading is None:
            return cls(text=text or "no epochs: an ensemble", **common)
        if reading.phase == Phase.training and reading.epoch is not None:
            # The epoch its batches belong to, not the last one finished.
            text = f"epoch {reading.epoch} of {job.epochs_total}, {job.epochs_done} done"
        return cls(
            text="; ".join(part for part in (text, reading.describe()) if part),
            phase=reading.phase,
            done=reading.done,
            total=reading.total,
            unit=reading.unit,
            fraction=reading.fraction,
            rate=reading.rate,
            eta_seconds=reading.eta_seconds,
            training_epoch=reading.epoch,
            updated_at=reading.updated_at,
            **common,
        )


class Timings(BaseModel):
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queued_seconds: float | None
    running_seconds: float | None
    cancel_requested_at: datetime | None = None
    cancel_seconds: float | None = Field(
        None, description="From the cancel request to the job's end, for a cancelled job."
    )


class ReliabilityBin(BaseModel):
    """One bin of a reliability diagram: probabilities in [lower, upper) (the last bin
    holds 1.0 too). Calibrated means ``positive_rate`` is close to
    ``mean_probability`` in every bin that holds predictions."""

    lower: float
    upper: float
    count: int = Field(description="Test predictions in the bin.")
    mean_probability: float = Field(description="Their mean predicted probability (0 if none).")
    positive_rate: float = Field(description="The share of them that are positive (0 if none).")


class Driver(BaseModel):
    token: str = Field(description="A word or n-gram, as the vocabulary holds it.")
    total: float = Field(description="Its contributions to the log-odds, summed over the reviews.")
    reviews: int = Field(description="The sampled test reviews it occurs in.")
    mean: float = Field(description="Its mean contribution in those reviews.")


class Drivers(BaseModel):
    """The tokens that move the model's scores most over the test set: the explanations
    (README, "Explanations") of a sample of test reviews, summed by token."""

    method: Literal["exact", "integrated_gradients"]
    reviews: int = Field(description="The test reviews explained, evenly spaced.")
    positive: list[Driver] = Field(description="Most toward positive first.")
    negative: list[Driver] = Field(description="Most toward negative first.")


class Links(BaseModel):
    self: str
    metrics: str
    cancel: str


class JobOut(BaseModel):
    id: str
    name: str
    status: JobStatus
    progress: Progress
    spec: TrainingSpec | EnsembleSpec = Field(
        description="What it trains, or, for an ensemble (kind 'ensemble'), which versions "
        "it averages with which weights."
    )
    latest_epoch: EpochOut | None
    best_val_accuracy: float | None = Field(description="The best epoch's validation accuracy.")
    test_metrics: dict[str, float] | None = Field(
        description="Loss, accuracy, precision, recall, F1, ROC AUC and the expected "
        "calibration error (ece) on the test set."
    )
    reliability: list[ReliabilityBin] | None = Field(
        None,
        description="The reliability diagram behind the ECE: the test predictions in 10 "
        "equal-width bins of the predicted probability of a positive review.",
    )
    drivers: Drivers | None = Field(
        None, description="The tokens that drive its model most over the test set."
    )
    parameters: dict[str, int] | None = Field(description="Total, trainable, non-trainable.")
    diagnosis: dict[str, Any] | None = Field(
        description="underfitting / good_fit / overfitting, the reason and the remedies."
    )
    embedding_coverage: float | None
    model_version: int | None
    error: str | None
    cancel_requested: bool
    attempts: int
    owner: str | None = Field(description="The id of the API key that submitted it.")
    worker: str | None = Field(description="The worker (host and process) that trained it.")
    timings: Timings
    links: Links

    @classmethod
    def of(cls, details: JobDetails) -> "JobOut":
        job, latest = details.job, details.latest_epoch
        now, started, finished = utcnow(), job.started_at, job.finished_at
        return cls(
            id=job.id,
            name=job.name,
            status=JobStatus(job.status),
            progress=Progress.of(job),
            spec=job_spec(job.spec),
            latest_epoch=EpochOut.of(latest) if latest else None,
            best_val_accuracy=details.best_val_accuracy,
            test_metrics=job.test_metrics,
            reliability=[ReliabilityBin(**b) for b in job.reliability] if job.reliability else None,
            drivers=Drivers.model_validate(job.drivers) if job.drivers else None,
            parameters=job.parameters,
            diagnosis=job.diagnosis,
            embedding_coverage=job.embedding_coverage,
            model_version=job.model_version,
            error=job.error,
            cancel_requested=job.cancel_requested,
            attempts=job.attempts,
            owner=job.owner_key_id,
            worker=job.worker,
            timings=Timings(
                created_at=job.created_at,
                started_at=started,
                finished_at=finished,
                queued_seconds=_seconds(job.created_at, started or finished or now),
                running_seconds=_seconds(started, finished or now),
                cancel_requested_at=job.cancel_requested_at,
                cancel_seconds=_seconds(job.cancel_requested_at, finished)
                if job.status == JobStatus.cancelled
                else None,
            ),
            links=Links(
                self=f"/v1/jobs/{job.id}",
                metrics=f"/v1/jobs/{job.id}/metrics",
                cancel=f"/v1/jobs/{job.id}/cancel",
            ),
        )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class MetricsOut(BaseModel):
    job_id: str
    status: JobStatus
    epochs_total: int
    progress: Progress
    epochs: list[EpochOut] = Field(description="Epochs after since_epoch, in order.")

    @classmethod
    def of(cls, job: Job, epochs: Sequence[EpochMetric]) -> "MetricsOut":
        return cls(
            job_id=job.id,
            status=JobStatus(job.status),
            epochs_total=job.epochs_total,
            progress=Progress.of(job),
            epochs=[EpochOut.of(row) for row in epochs],
        )


class FollowUpOut(BaseModel):
    id: str = Field(description="Name it in POST /v1/jobs/{id}/follow-up.")
    rationale: str
    changes: dict[str, Any] = Field(description="The fields it changes (dotted), new values.")
    spec: TrainingSpec

    @classmethod
    def of(cls, suggestion: Suggestion) -> "FollowUpOut":
        return cls(
            id=suggestion.id,
            rationale=suggestion.rationale,
            changes=suggestion.changes,
            spec=suggestion.spec,
        )


class FollowUpPage(BaseModel):
    job_id: str
    fit: str
    items: list[FollowUpOut]

    @classmethod
    def of(cls, found: FollowUps) -> "FollowUpPage":
        return cls(
            job_id=found.job_id,
            fit=found.fit,
            items=[FollowUpOut.of(suggestion) for suggestion in found.suggestions],
        )


class FollowUpIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"suggestion": "more-dropout"}]}
    )
    suggestion: str = Field(min_length=1, max_length=64, description="A follow-up's id.")
