"""What a sweep searches: a grid or a random search over spec fields, as the request
takes it (validated here, expanded into points by the service)."""

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.types import DisplayName

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
