"""HTTP endpoints of the jobs domain: validate, call the service, answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from sqlalchemy.orm import Session

from app.auth.deps import TrainKey, rate_limited
from app.auth.keys import Principal
from app.deps import SessionDep, SettingsDep
from app.errors import ApiError, error_responses
from app.jobs import followups, service
from app.jobs.models import JobStatus
from app.jobs.queue import enqueue_training
from app.jobs.schemas import FollowUpIn, FollowUpOut, FollowUpPage, JobOut, JobPage, MetricsOut
from app.jobs.spec import TrainingSpec
from app.settings import Settings

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=error_responses(401, 403, 422, 503))

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Resubmitting with the same key answers the same job.",
    ),
]
# How a submission answers besides 202 (POST /v1/jobs and the routes that submit for you).
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Replayed: this Idempotency-Key already made the job.", "model": JobOut},
    **error_responses(409, 413, 429, e409="Idempotency-Key reused with another spec."),
}
JobId = Annotated[
    str, Path(description="The job's id, as POST /v1/jobs answered it.", max_length=36)
]
SPEC_EXAMPLES = {
    "course-lstm": {
        "summary": "The course's LSTM (every default)",
        "value": {"name": "lstm-128"},
    },
    "gru-dropout": {
        "summary": "GRU(32) with dropout, RMSProp, 10 epochs",
        "value": {
            "name": "gru-32-dropout",
            "architecture": "gru",
            "units": 32,
            "dropout": 0.2,
            "recurrent_dropout": 0.2,
            "optimizer": {"name": "rmsprop"},
            "epochs": 10,
        },
    },
    "quick": {
        "summary": "A quick job: 10,000 reviews, 3 epochs, about half a minute on 2 cores",
        "value": {
            "name": "quick-dense",
            "architecture": "dense",
            "hidden_layers": [16],
            "embedding": {"dim": 32, "pretrained": None, "trainable": True},
            "sequence": {"max_len": 200, "vocab_size": 10000},
            "epochs": 3,
            "batch_size": 64,
            "train_size": 10000,
            "test_size": 2000,
        },
    },
}


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    summary="Submit a training job",
    dependencies=[Depends(rate_limited("job submission"))],
    responses=SUBMIT_RESPONSES,
)
def submit_job(
    session: SessionDep,
    settings: SettingsDep,
    caller: TrainKey,
    response: Response,
    spec: Annotated[TrainingSpec, Body(openapi_examples=SPEC_EXAMPLES)],
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    return submitted(session, settings, caller, response, spec, idempotency_key)


def submitted(
    session: Session,
    settings: Settings,
    caller: Principal,
    response: Response,
    spec: TrainingSpec,
    idempotency_key: str | None,
) -> JobOut:
    """Submit ``spec`` and answer as POST /v1/jobs does (202 with Location, or 200 for a
    replayed Idempotency-Key); the recipe and follow-up routes answer the same way."""
    job, created = service.submit(
        session, spec, caller, idempotency_key, enqueue_training, settings
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.status_code = 200
    return service.describe(session, job)


@router.get(
    "", response_model=JobPage, summary="List your jobs (an admin: every job), newest first"
)
def list_jobs(
    session: SessionDep,
    caller: TrainKey,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobPage:
    return service.page(session, caller, status, limit, offset)


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="A job: status, progress, metrics, diagnosis",
    responses=error_responses(404, e404="No such job, or not one of this key's."),
)
def get_job(session: SessionDep, caller: TrainKey, job_id: JobId) -> JobOut:
    return service.describe(session, service.get(session, job_id, caller))


@router.get(
    "/{job_id}/metrics",
    response_model=MetricsOut,
    summary="Per-epoch history; since_epoch for cheap polling",
    responses=error_responses(404, e404="No such job, or not one of this key's."),
)
def get_metrics(
    session: SessionDep,
    caller: TrainKey,
    job_id: JobId,
    since_epoch: Annotated[
        int, Query(ge=0, le=10_000, description="Only epochs after this one.")
    ] = 0,
) -> MetricsOut:
    return service.metrics(session, job_id, since_epoch, caller)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobOut,
    summary="Cancel a queued job at once, or a running one between batches",
    responses=error_responses(
        404, 409, e404="No such job, or not one of this key's.", e409="The job has already ended."
    ),
)
def cancel_job(session: SessionDep, caller: TrainKey, job_id: JobId) -> JobOut:
    return service.describe(session, service.cancel(session, job_id, caller))


@router.get(
    "/{job_id}/follow-ups",
    response_model=FollowUpPage,
    summary="Next specs to try, from the job's diagnosis (the course's remedies)",
    responses=error_responses(
        404, 409, e404="No such job, or not one of this key's.", e409="The job has no diagnosis."
    ),
)
def get_follow_ups(session: SessionDep, caller: TrainKey, job_id: JobId) -> FollowUpPage:
    job = service.get(session, job_id, caller)
    return FollowUpPage(
        job_id=job.id,
        fit=service.diagnosed(job)["fit"],
        items=[
            FollowUpOut(id=s.id, rationale=s.rationale, changes=s.changes, spec=s.spec)
            for s in followups.suggestions(TrainingSpec.model_validate(job.spec), job.diagnosis)
        ],
    )


@router.post(
    "/{job_id}/follow-up",
    status_code=202,
    response_model=JobOut,
    summary="Submit one of the job's follow-ups",
    dependencies=[Depends(rate_limited("job submission"))],
    responses=error_responses(
        404, 409, 413, 429,
        e404="No such job, or not one of this key's.",
        e409="The job has no diagnosis.",
    ),
)  # fmt: skip
def submit_follow_up(
    session: SessionDep,
    settings: SettingsDep,
    caller: TrainKey,
    response: Response,
    job_id: JobId,
    body: FollowUpIn,
) -> JobOut:
    job = service.get(session, job_id, caller)
    service.diagnosed(job)
    offered = followups.suggestions(TrainingSpec.model_validate(job.spec), job.diagnosis)
    chosen = next((s for s in offered if s.id == body.suggestion), None)
    if chosen is None:
        detail = {"field": "suggestion", "message": "not a follow-up of this job"}
        raise ApiError(
            422,
            "invalid_request",
            f"expected one of this job's follow-ups {[s.id for s in offered]}; "
            f"received {body.suggestion!r}",
            [detail | {"received": body.suggestion}],
        )
    return submitted(session, settings, caller, response, chosen.spec, None)
