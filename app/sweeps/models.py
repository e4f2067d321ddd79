"""The sweeps table; a sweep's jobs point to it (``jobs.sweep_id``, ``jobs.sweep_point``)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.types import UTCDateTime, utcnow


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(100))
    owner_key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    base_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    search: Mapped[dict[str, Any]] = mapped_column(JSON)  # the grid or random search asked for
    points_total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
