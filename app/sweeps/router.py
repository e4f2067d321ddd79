"""Sweeps over HTTP: create one, follow its ranked points, cancel it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.auth.deps import TrainKey, rate_limited
from app.http.deps import SessionDep, SettingsDep
from app.http.errors import error_responses
from app.http.params import Digits
from app.jobs.submission import QueueDep
from app.sweeps import service
from app.sweeps.schemas import SweepOut, SweepPage
from app.sweeps.search import SweepIn

router = APIRouter(
    prefix="/v1/sweeps", tags=["sweeps"], responses=error_responses(401, 403, 422, 503)
)

SweepId = Annotated[str, Path(max_length=36, description="The sweep's id.")]
NOT_FOUND = error_responses(404, e404="No such sweep, or not one of this key's.")


@router.post(
    "",
    status_code=202,
    response_model=SweepOut,
    summary="Start a sweep: one job per point of a grid or a random search",
    dependencies=[Depends(rate_limited("job submission"))],
    responses=error_responses(413, 429),
)
def create_sweep(
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    caller: TrainKey,
    response: Response,
    body: SweepIn,
) -> SweepOut:
    created = service.create(session, body, caller, queue.send, settings)
    response.headers["Location"] = f"/v1/sweeps/{created.sweep.id}"
    return SweepOut.of(created)


@router.get("", response_model=SweepPage, summary="Your sweeps (an admin: every sweep)")
def list_sweeps(
    session: SessionDep,
    caller: TrainKey,
    limit: Annotated[int, Digits, Query(ge=1, le=50)] = 10,
    offset: Annotated[int, Digits, Query(ge=0, le=100_000)] = 0,
) -> SweepPage:
    return SweepPage(
        items=[SweepOut.of(sweep) for sweep in service.page(session, caller, limit, offset)]
    )


@router.get(
    "/{sweep_id}",
    response_model=SweepOut,
    summary="A sweep's progress and its points, ranked by validation accuracy",
    responses=NOT_FOUND,
)
def get_sweep(session: SessionDep, caller: TrainKey, sweep_id: SweepId) -> SweepOut:
    return SweepOut.of(service.get(session, sweep_id, caller))


@router.post(
    "/{sweep_id}/cancel",
    status_code=202,
    response_model=SweepOut,
    summary="Cancel the sweep's queued and running jobs",
    responses=NOT_FOUND,
)
def cancel_sweep(session: SessionDep, caller: TrainKey, sweep_id: SweepId) -> SweepOut:
    return SweepOut.of(service.cancel(session, sweep_id, caller))
