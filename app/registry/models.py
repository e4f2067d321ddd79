"""The model registry's table: one row per complete SavedModel artifact."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.types import UTCDateTime, utcnow


class ModelVersion(Base):
    """A row exists only once its artifact is complete on disk (written, then renamed)."""

    __tablename__ = "model_versions"
    # Version numbers are never reused, even after a failed registration.
    __table_args__ = ({"sqlite_autoincrement": True},)

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(500))  # relative to the models store root
    test_accuracy: Mapped[float] = mapped_column(Float, index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    # An ensemble's members, [{"version": 3, "weight": 0.5}, ...]; null for a trained model.
    members: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelAlias(Base):
    """A name pinned to a version; ``champion`` decides which version serves predictions."""

    __tablename__ = "model_aliases"

    alias: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
