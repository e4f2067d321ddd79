"""Reads of the sweeps domain."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.models import Job, Sweep


def get(session: Session, sweep_id: str) -> Sweep | None:
    return session.get(Sweep, sweep_id)


def page(session: Session, owner: str | None, limit: int, offset: int) -> Sequence[Sweep]:
    """A page of sweeps, newest first; only ``owner``'s unless owner is None."""
    query = select(Sweep).order_by(Sweep.created_at.desc(), Sweep.id)
    if owner is not None:
        query = query.where(Sweep.owner_key_id == owner)
    return session.scalars(query.limit(limit).offset(offset)).all()


def members(session: Session, sweep_ids: Sequence[str]) -> dict[str, list[Job]]:
    """The jobs of each sweep, in one query."""
    found: dict[str, list[Job]] = {sweep_id: [] for sweep_id in sweep_ids}
    if not sweep_ids:
        return found
    for job in session.scalars(select(Job).where(Job.sweep_id.in_(sweep_ids))).all():
        found[str(job.sweep_id)].append(job)
    return found
