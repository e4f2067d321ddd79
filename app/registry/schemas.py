"""What the registry API answers."""

from datetime import datetime

from pydantic import BaseModel, Field


class ModelVersionOut(BaseModel):
    version: int
    name: str
    job_id: str
    path: str = Field(description="Folder under the models store root.")
    test_metrics: dict[str, float]
    created_at: datetime
    champion: bool


class ModelVersionPage(BaseModel):
    items: list[ModelVersionOut]
    champion: int | None
    champion_reason: str | None
