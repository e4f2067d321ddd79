"""What the registry API answers."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.types import DisplayName
from app.registry import service
from app.registry.models import ModelAlias
from app.specs.spec import EnsembleMembers, Weight, ensemble_rule

AliasName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$"),
]


class MemberOut(BaseModel):
    version: int
    weight: float = Field(description="Its share of the average (the weights sum to 1).")


class ModelVersionOut(BaseModel):
    version: int
    name: str | None = Field(
        description="The training job's name: shown to that job's owner and to admins."
    )
    job_id: str | None = Field(
        description="The job that trained it: shown to that job's owner and to admins."
    )
    status: Literal["ready", "missing"] = Field(
        description="ready: the artifact is on disk; missing: its folder is gone."
    )
    path: str = Field(description="Folder under the models store root.")
    test_metrics: dict[str, float]
    aliases: list[str]
    created_at: datetime
    champion: bool
    members: list[MemberOut] | None = Field(
        None,
        description="An ensemble's member versions and weights; null for a trained model.",
    )

    @classmethod
    def of(cls, details: service.VersionDetails) -> "ModelVersionOut":
        row = details.row
        return cls(
            version=row.version,
            name=row.name if details.shows_job else None,
            job_id=row.job_id if details.shows_job else None,
            status="ready" if details.present else "missing",
            path=row.path,
            test_metrics=row.metrics,
            aliases=details.aliases,
            created_at=row.created_at,
            champion=details.champion,
            members=[MemberOut(**member) for member in row.members] if row.members else None,
        )


class Champion(BaseModel):
    version: int
    reason: Literal["pinned", "best test accuracy"]

    @classmethod
    def of(cls, champion: service.Champion | None) -> "Champion | None":
        return None if champion is None else cls(version=champion.version, reason=champion.reason)


class ModelVersionPage(BaseModel):
    items: list[ModelVersionOut]
    champion: Champion | None

    @classmethod
    def of(
        cls, found: tuple[list[service.VersionDetails], service.Champion | None]
    ) -> "ModelVersionPage":
        versions, champion = found
        return cls(items=[ModelVersionOut.of(v) for v in versions], champion=Champion.of(champion))


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 3}]})

    version: int = Field(strict=True, ge=1, le=2**31 - 1)


class AliasOut(BaseModel):
    alias: str
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, row: ModelAlias) -> "AliasOut":
        return cls(alias=row.alias, version=row.version, updated_at=row.updated_at)


class EnsembleIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {"name": "gru-and-dense", "members": [3, 5], "weights": "equal"},
                {"name": "mostly-lstm", "members": [2, 4, 7], "weights": [2, 1, 1]},
            ]
        },
    )

    name: DisplayName = Field(
        min_length=1,
        max_length=100,
        description="A name for people, in any script (no invisible characters).",
    )
    members: EnsembleMembers = Field(
        description="Registered versions to average, at least two distinct ones."
    )
    weights: list[Weight] | Literal["equal"] = Field(
        "equal",
        description="One positive weight per member, in order (scaled to sum to 1), or 'equal'.",
    )

    @model_validator(mode="after")
    def _members_and_weights_agree(self) -> "EnsembleIn":
        ensemble_rule(self.members, self.given_weights)
        return self

    @property
    def given_weights(self) -> list[float] | None:
        return None if self.weights == "equal" else list(self.weights)
