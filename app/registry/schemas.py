"""What the registry API answers."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AliasName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$"),
]


class ModelVersionOut(BaseModel):
    version: int
    name: str
    job_id: str
    status: Literal["ready", "missing"] = Field(
        description="ready: the artifact is on disk; missing: its folder is gone."
    )
    path: str = Field(description="Folder under the models store root.")
    test_metrics: dict[str, float]
    aliases: list[str]
    created_at: datetime
    champion: bool


class Champion(BaseModel):
    version: int
    reason: Literal["pinned", "best test accuracy"]


class ModelVersionPage(BaseModel):
    items: list[ModelVersionOut]
    champion: Champion | None


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 3}]})

    version: int = Field(strict=True, ge=1, le=2**31 - 1)


class AliasOut(BaseModel):
    alias: str
    version: int
    updated_at: datetime
