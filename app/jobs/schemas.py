"""What the jobs API answers."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.models import JobStatus
from app.jobs.spec import TrainingSpec


class EpochOut(BaseModel):
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    recorded_at: datetime


class Progress(BaseModel):
    epoch: int = Field(description="Epochs finished.")
    epochs: int = Field(description="Epochs the spec asks for.")
    text: str = Field(description="'epoch k of n'.")


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


class Links(BaseModel):
    self: str
    metrics: str
    cancel: str


class JobOut(BaseModel):
    id: str
    name: str
    status: JobStatus
    progress: Progress
    spec: TrainingSpec
    latest_epoch: EpochOut | None
    best_val_accuracy: float | None = Field(description="The best epoch's validation accuracy.")
    test_metrics: dict[str, float] | None = Field(
        description="Loss, accuracy, precision, recall, F1 and ROC AUC on the test set."
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


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class MetricsOut(BaseModel):
    job_id: str
    status: JobStatus
    epochs_total: int
    epochs: list[EpochOut] = Field(description="Epochs after since_epoch, in order.")


class FollowUpOut(BaseModel):
    id: str = Field(description="Name it in POST /v1/jobs/{id}/follow-up.")
    rationale: str
    changes: dict[str, Any] = Field(description="The fields it changes (dotted), new values.")
    spec: TrainingSpec


class FollowUpPage(BaseModel):
    job_id: str
    fit: str
    items: list[FollowUpOut]


class FollowUpIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"suggestion": "more-dropout"}]}
    )
    suggestion: str = Field(min_length=1, max_length=64, description="A follow-up's id.")
