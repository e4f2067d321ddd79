"""Tables of the jobs domain: a training job, its per-epoch metrics, and the sweep a
job may belong to.

The job row owns the state machine (never the broker); its transitions, and
every write of ``status``, are in ``lifecycle.py``. The sweeps table is defined
here because a job row refers to it (``jobs.sweep_id``): SQLAlchemy must know it
wherever jobs are written, the worker included. What a sweep does is
``app/sweeps``'s.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base
from app.core.types import UTCDateTime, utcnow


class Sweep(Base):
    """A grid or random search: one job a point, each job pointing back to it."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(100))
    owner_key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    base_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    search: Mapped[dict[str, Any]] = mapped_column(JSON)  # the grid or random search asked for
    points_total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})


def new_job_id() -> str:
    return str(uuid.uuid4())


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="status",
        ),
        # An Idempotency-Key belongs to the key that sent it: another key's is not a replay.
        UniqueConstraint("owner_key_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_job_id)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)  # written by lifecycle.py
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    owner_key_id: Mapped[str | None] = mapped_column(String(32), index=True)  # who submitted it
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    epochs_total: Mapped[int] = mapped_column(Integer)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sends: Mapped[int] = mapped_column(Integer, default=0)  # broker messages sent for it
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test_metrics: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # The test predictions' reliability diagram: [{lower, upper, count,
    # mean_probability, positive_rate}, ...], one per bin.
    reliability: Mapped[list[dict[str, float]] | None] = mapped_column(JSON)
    # The tokens that drive its model most over the test set: {method, reviews,
    # positive: [{token, total, reviews, mean}], negative: [...]}.
    drivers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parameters: Mapped[dict[str, int] | None] = mapped_column(JSON)
    diagnosis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    embedding_coverage: Mapped[float | None] = mapped_column(Float)
    timings: Mapped[dict[str, float] | None] = mapped_column(JSON)
    model_version: Mapped[int | None] = mapped_column(Integer)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a PhaseProgress, running
    checkpoint_bytes: Mapped[int | None] = mapped_column(BigInteger)  # its newest checkpoint
    resumed_after_epoch: Mapped[int | None] = mapped_column(Integer)  # epochs a re-claim kept
    sweep_id: Mapped[str | None] = mapped_column(ForeignKey("sweeps.id"), index=True)
    sweep_point: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the point's values

    epochs: Mapped[list["EpochMetric"]] = relationship(
        back_populates="job", order_by="EpochMetric.epoch", cascade="all, delete-orphan"
    )


class EpochMetric(Base):
    __tablename__ = "epoch_metrics"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based; one row per epoch
    loss: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float] = mapped_column(Float)
    val_accuracy: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[Job] = relationship(back_populates="epochs")
