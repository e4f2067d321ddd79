"""Sweeps: expand a grid or a random search into points, one job per point; rank them."""

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.auth.keys import Principal
from app.core.errors import ErrorCode, Invalid, NotFound, TooMany
from app.core.settings import Settings
from app.core.types import utcnow
from app.jobs import lifecycle
from app.jobs import repository as jobs_repository
from app.jobs import service as jobs
from app.jobs.models import TERMINAL, Job, Sweep
from app.specs import limits
from app.specs.overrides import nested, with_overrides
from app.specs.recipes import RECIPES
from app.specs.spec import TrainingSpec
from app.sweeps import repository
from app.sweeps.search import Range, SweepIn


@dataclass(frozen=True)
class SweepDetails:
    """A sweep with its jobs and the best validation accuracy of each so far."""

    sweep: Sweep
    members: list[Job]
    best_val_accuracies: dict[str, float]


def points(body: SweepIn, most: int) -> list[dict[str, Any]]:
    """The values of each point, in order; a 422 beyond ``most`` points."""
    if body.grid is not None:
        size = math.prod(len(values) for values in body.grid.values())
        if size > most:
            raise Invalid(
                ErrorCode.SWEEP_TOO_LARGE,
                f"The grid has {size} points; at most {most} (SENTIMENT_MAX_SWEEP_POINTS).",
            )
        names = list(body.grid)
        return [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*body.grid.values())
        ]
    assert body.random is not None
    if body.random.samples > most:
        raise Invalid(
            ErrorCode.SWEEP_TOO_LARGE,
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
    send: Callable[[str], object],
    settings: Settings,
) -> SweepDetails:
    """Validate every point first (a 422 names the point), then create its jobs; all in
    the request's transaction, so a refused point or quota leaves nothing behind."""
    if body.recipe is not None and body.recipe not in RECIPES:
        detail = {"field": "recipe", "message": "unknown recipe", "received": body.recipe}
        message = f"No recipe named {body.recipe!r}; the recipes: {sorted(RECIPES)}."
        raise Invalid(ErrorCode.INVALID_REQUEST, message, [detail])
    start = RECIPES[body.recipe].spec if body.recipe else TrainingSpec()
    base = with_overrides(start, body.base, "The sweep's base")
    specs = []
    for index, values in enumerate(points(body, settings.max_sweep_points), start=1):
        label = _label(values)
        name = f"{body.name} [{label}]"[:100]
        what = f"Point {index} ({label})"
        spec = with_overrides(base, nested(values) | {"name": name}, what)
        limits.enforce(spec, settings, what)
        specs.append((spec, values))
    _within_queue_quota(session, owner, len(specs), settings.max_queued_jobs_per_key)
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
        job, _ = jobs.submit(session, spec, owner, None, send, settings)
        job.sweep_id, job.sweep_point = sweep.id, values
    session.flush()
    return details_of(session, [sweep])[0]


def _within_queue_quota(session: Session, owner: Principal, points: int, quota: int) -> None:
    """All the points at once: refusing the 40th job would name the sweep's own 39."""
    queued = jobs_repository.queued_count(session, owner.key_id)
    if queued + points > quota:
        raise TooMany(
            ErrorCode.QUEUE_QUOTA_EXCEEDED,
            f"This sweep has {points} points and this key already has {queued} jobs queued; "
            f"together they pass the most a key may have queued "
            f"(SENTIMENT_MAX_QUEUED_JOBS_PER_KEY={quota}). Sweep fewer points, or wait for "
            "some jobs to start or cancel some.",
            retry_after=30,
        )


def visible(session: Session, sweep_id: str, caller: Principal) -> Sweep:
    sweep = repository.get(session, sweep_id)
    if sweep is None or not caller.may_see(sweep.owner_key_id):
        raise NotFound(ErrorCode.SWEEP_NOT_FOUND, f"No sweep with id {sweep_id!r}.")
    return sweep


def get(session: Session, sweep_id: str, caller: Principal) -> SweepDetails:
    return details_of(session, [visible(session, sweep_id, caller)])[0]


def details_of(session: Session, sweeps: Sequence[Sweep]) -> list[SweepDetails]:
    """Each sweep's details, in two queries for them all."""
    members = repository.members(session, [sweep.id for sweep in sweeps])
    best = jobs_repository.best_val_accuracies(
        session, [job.id for jobs_of in members.values() for job in jobs_of]
    )
    return [
        SweepDetails(
            sweep,
            members[sweep.id],
            {job.id: best[job.id] for job in members[sweep.id] if job.id in best},
        )
        for sweep in sweeps
    ]


def page(session: Session, caller: Principal, limit: int, offset: int) -> list[SweepDetails]:
    owner = None if caller.is_admin else caller.key_id
    return details_of(session, repository.page(session, owner, limit, offset))


def cancel(session: Session, sweep_id: str, caller: Principal) -> SweepDetails:
    """Cancel every point still queued or running (running ones stop between batches)."""
    sweep = visible(session, sweep_id, caller)
    for job in repository.members(session, [sweep.id])[sweep.id]:
        if job.status not in TERMINAL:
            lifecycle.cancel(session, job.id)
    session.expire_all()  # the cancels were UPDATEs: read the rows again
    return details_of(session, [sweep])[0]
