"""What the sweeps API takes and answers."""

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.types import DisplayName
from app.jobs.models import TERMINAL, JobStatus
from app.jobs.spec import TrainingSpec

if TYPE_CHECKING:  # the service imports these schemas
    from app.sweeps.service import SweepDetails

FieldPath = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$", max_length=64)]
Values = Annotated[list[Any], Field(min_length=1, max_length=20)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Every spec field lies well inside this; beyond it a range would only overflow.
RANGE_BOUND = 1e12


class Range(Strict):
    min: float = Field(ge=-RANGE_BOUND, le=RANGE_BOUND)
    max: float = Field(ge=-RANGE_BOUND, le=RANGE_BOUND)
    log: bool = Field(False, description="Sample evenly in log space (learning rates, L2).")
    integer: bool = Field(False, description="Round to whole numbers (units, epochs).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.min or (self.log and self.min <= 0):
            raise ValueError(
                "expected min <= max (and min > 0 with log); "
                f"received min {self.min}, max {self.max}"
            )
        return self


class RandomSearch(Strict):
    samples: int = Field(strict=True, ge=1, le=64)
    seed: int = Field(0, strict=True, ge=0, le=2**31 - 1)
    space: dict[FieldPath, Values | Range] = Field(min_length=1, max_length=8)


class SweepIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "name": "lstm dropout x l2",
                    "recipe": "course-lstm-128",
                    "base": {"epochs": 4},
                    "grid": {"dropout": [0, 0.2, 0.5], "regularization.l2": [0, 0.001]},
                }
            ]
        },
    )
    name: DisplayName = Field(
        min_length=1, max_length=80, description="Any script; no invisible characters."
    )
    recipe: str | None = Field(None, max_length=64, description="Start from this recipe.")
    base: dict[str, Any] = Field(
        default_factory=dict, description="Spec fields (a partial spec) every point shares."
    )
    grid: dict[FieldPath, Values] | None = Field(
        None, max_length=8, description="Every combination of these values (dotted fields)."
    )
    random: RandomSearch | None = None

    @model_validator(mode="after")
    def _one_search(self) -> Self:
        if (self.grid is None) == (self.random is None):
            raise ValueError("expected exactly one of grid and random")
        if self.grid is not None and not self.grid:
            raise ValueError("expected at least one field in grid")
        return self


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
    def of(cls, details: "SweepDetails") -> "SweepOut":
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
