"""What the sweeps API answers (what it takes is ``search.py``'s)."""

from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.jobs.models import TERMINAL, JobStatus
from app.specs.spec import TrainingSpec
from app.sweeps.service import SweepDetails


class PointOut(BaseModel):
    rank: int | None = Field(description="By best validation accuracy; None until an epoch ends.")
    job_id: str
    values: dict[str, Any]
    status: JobStatus
    epoch: int
    epochs: int
    best_val_accuracy: float | None
    test_accuracy: float | None


class SweepOut(BaseModel):
    id: str
    name: str
    status: str = Field(description="running while any point is queued or running; then finished.")
    created_at: datetime
    total: int
    by_status: dict[str, int]
    base_spec: TrainingSpec
    search: dict[str, Any]
    points: list[PointOut] = Field(description="Ranked: best validation accuracy first.")

    @classmethod
    def of(cls, details: SweepDetails) -> "SweepOut":
        sweep, members, best = details.sweep, details.members, details.best_val_accuracies
        ordered = sorted(
            members, key=lambda job: (best.get(job.id) is None, -best.get(job.id, 0.0))
        )
        counts = Counter(job.status for job in members)
        return cls(
            id=sweep.id,
            name=sweep.name,
            status="running" if any(job.status not in TERMINAL for job in members) else "finished",
            created_at=sweep.created_at,
            total=sweep.points_total,
            by_status={status.value: counts.get(status.value, 0) for status in JobStatus},
            base_spec=TrainingSpec.model_validate(sweep.base_spec),
            search=sweep.search,
            points=[
                PointOut(
                    rank=rank if best.get(job.id) is not None else None,
                    job_id=job.id,
                    values=job.sweep_point or {},
                    status=JobStatus(job.status),
                    epoch=job.epochs_done,
                    epochs=job.epochs_total,
                    best_val_accuracy=best.get(job.id),
                    test_accuracy=(job.test_metrics or {}).get("accuracy"),
                )
                for rank, job in enumerate(ordered, start=1)
            ],
        )


class SweepPage(BaseModel):
    items: list[SweepOut]
