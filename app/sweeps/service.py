"""Sweeps: expand a grid or a random search into points, one job per point; rank them."""

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.keys import Principal
from app.errors import ApiError
from app.jobs import repository as jobs_repository
from app.jobs import service as jobs
from app.jobs.models import Job, JobStatus
from app.jobs.overrides import nested, with_overrides
from app.jobs.recipes import RECIPES
from app.jobs.spec import TrainingSpec
from app.settings import Settings
from app.sweeps.models import Sweep
from app.sweeps.schemas import PointOut, Range, SweepIn, SweepOut, SweepPage
from app.types import utcnow

ACTIVE = {JobStatus.queued, JobStatus.running}


def points(body: SweepIn, most: int) -> list[dict[str, Any]]:
    """The values of each point, in order; a 422 beyond ``most`` points."""
    if body.grid is not None:
        size = math.prod(len(values) for values in body.grid.values())
        if size > most:
            raise ApiError(
                422,
                "sweep_too_large",
                f"The grid has {size} points; at most {most} (SENTIMENT_MAX_SWEEP_POINTS).",
            )
        names = list(body.grid)
        return [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*body.grid.values())
        ]
    assert body.random is not None
    if body.random.samples > most:
        raise ApiError(
            422,
            "sweep_too_large",
            f"{body.random.samples} samples asked; at most {most} (SENTIMENT_MAX_SWEEP_POINTS).",
        )
    rng = random.Random(body.random.seed)
    return [
        {name: _sample(rng, domain) for name, domain in body.random.space.items()}
        for _ in range(body.random.samples)
    ]


def _sample(rng: random.Random, domain: list[Any] | Range) -> Any:
    if isinstance(domain, list):
        return rng.choice(domain)
    if domain.log:
        value = math.exp(rng.uniform(math.log(domain.min), math.log(domain.max)))
    else:
        value = rng.uniform(domain.min, domain.max)
    return round(value) if domain.integer else float(f"{value:.4g}")


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in values.items())


def create(
    session: Session,
    body: SweepIn,
    owner: Principal,
    enqueue: Callable[[str], object],
    settings: Settings,
) -> Sweep:
    """Validate every point first (a 422 names the point), then create its jobs; all in
    the request's transaction, so a refused point or quota leaves nothing behind."""
    if body.recipe is not None and body.recipe not in RECIPES:
        detail = {"field": "recipe", "message": "unknown recipe", "received": body.recipe}
        message = f"No recipe named {body.recipe!r}; the recipes: {sorted(RECIPES)}."
        raise ApiError(422, "invalid_request", message, [detail])
    start = RECIPES[body.recipe].spec if body.recipe else TrainingSpec()
    base = with_overrides(start, body.base, "The sweep's base")
    specs = []
    for index, values in enumerate(points(body, settings.max_sweep_points), start=1):
        label = _label(values)
        name = f"{body.name} [{label}]"[:100]
        what = f"Point {index} ({label})"
        specs.append((with_overrides(base, nested(values) | {"name": name}, what), values))
    sweep = Sweep(
        name=body.name,
        owner_key_id=owner.key_id,
        base_spec=base.model_dump(mode="json"),
        search=body.model_dump(mode="json", include={"recipe", "grid", "random"}),
        points_total=len(specs),
        created_at=utcnow(),
    )
    session.add(sweep)
    session.flush()
    for spec, values in specs:
        job, _ = jobs.submit(session, spec, owner, None, enqueue, settings)
        job.sweep_id, job.sweep_point = sweep.id, values
    session.flush()
    return sweep


def get(session: Session, sweep_id: str, caller: Principal) -> Sweep:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None or not (caller.is_admin or sweep.owner_key_id == caller.key_id):
        raise ApiError(404, "sweep_not_found", f"No sweep with id {sweep_id!r}.")
    return sweep


def _jobs(session: Session, sweep_id: str) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.sweep_id == sweep_id)).all())


def describe(session: Session, sweep: Sweep) -> SweepOut:
    members = _jobs(session, sweep.id)
    best = jobs_repository.best_val_accuracies(session, [job.id for job in members])
    ordered = sorted(members, key=lambda job: (best.get(job.id) is None, -best.get(job.id, 0.0)))
    points_out = [
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
    ]
    counts = Counter(job.status for job in members)
    return SweepOut(
        id=sweep.id,
        name=sweep.name,
        status="running" if any(job.status in ACTIVE for job in members) else "finished",
        created_at=sweep.created_at,
        total=sweep.points_total,
        by_status={status.value: counts.get(status.value, 0) for status in JobStatus},
        base_spec=TrainingSpec.model_validate(sweep.base_spec),
        search=sweep.search,
        points=points_out,
    )


def page(session: Session, caller: Principal, limit: int, offset: int) -> SweepPage:
    query = select(Sweep).order_by(Sweep.created_at.desc(), Sweep.id)
    if not caller.is_admin:
        query = query.where(Sweep.owner_key_id == caller.key_id)
    sweeps = session.scalars(query.limit(limit).offset(offset)).all()
    return SweepPage(items=[describe(session, sweep) for sweep in sweeps])


def cancel(session: Session, sweep: Sweep, caller: Principal) -> None:
    """Cancel every point still queued or running (running ones stop between batches)."""
    for job in _jobs(session, sweep.id):
        if job.status in ACTIVE:
            jobs.cancel(session, job.id, caller)
