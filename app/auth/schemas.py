"""What the keys API takes and answers."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.auth.models import ApiKey, Scope
from app.core.types import DisplayName

KeyName = Annotated[DisplayName, StringConstraints(min_length=1, max_length=100)]


class KeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "course laptop", "scopes": ["train", "predict"]}]},
    )
    name: KeyName = Field(
        description="Who or what the key is for (any script; no invisible characters)."
    )
    scopes: list[Scope] = Field(min_length=1, max_length=3)


class KeyOut(BaseModel):
    id: str = Field(description="The key's public id; the key itself begins snt_<id>_.")
    name: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> "KeyOut":
        return cls(
            id=row.id,
            name=row.name,
            scopes=sorted(row.scope_set),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="The key. It is shown this once and stored only as a hash.")


class KeyPage(BaseModel):
    items: list[KeyOut]
