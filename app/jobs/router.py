"""HTTP endpoints of the jobs domain: validate, call the service, answer. Every route
that submits a job is here: a spec, a follow-up, or a recipe (``recipe_jobs_router``)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from app.auth.deps import TrainKey, rate_limited
from app.http.deps import SessionDep, SettingsDep
from app.http.errors import error_responses
from app.http.params import Digits
from app.jobs import service
from app.jobs.models import JobStatus
from app.jobs.schemas import FollowUpIn, FollowUpPage, JobOut, JobPage, MetricsOut
from app.jobs.submission import SUBMIT_RESPONSES, IdempotencyKey, QueueDep, answer_submission
from app.specs.router import RecipeName
from app.specs.spec import TrainingSpec

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=error_responses(401, 403, 422, 503))

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
    queue: QueueDep,
    caller: TrainKey,
    response: Response,
    spec: Annotated[TrainingSpec, Body(openapi_examples=SPEC_EXAMPLES)],
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    submission = service.submit_spec(session, spec, caller, idempotency_key, queue.send, settings)
    return answer_submission(response, submission)


@router.get(
    "", response_model=JobPage, summary="List your jobs (an admin: every job), newest first"
)
def list_jobs(
    session: SessionDep,
    caller: TrainKey,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Digits, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Digits, Query(ge=0, le=1_000_000)] = 0,
) -> JobPage:
    found, total = service.page(session, caller, status, limit, offset)
    return JobPage(items=[JobOut.of(job) for job in found], total=total, limit=limit, offset=offset)


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="A job: status, progress, metrics, diagnosis",
    responses=error_responses(404, e404="No such job, or not one of this key's."),
)
def get_job(session: SessionDep, caller: TrainKey, job_id: JobId) -> JobOut:
    return JobOut.of(service.get(session, job_id, caller))


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
        int, Digits, Query(ge=0, le=10_000, description="Only epochs after this one.")
    ] = 0,
) -> MetricsOut:
    return MetricsOut.of(*service.metrics(session, job_id, since_epoch, caller))


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
    return JobOut.of(service.cancel(session, job_id, caller))


@router.get(
    "/{job_id}/follow-ups",
    response_model=FollowUpPage,
    summary="Next specs to try, from the job's diagnosis (the course's remedies)",
    responses=error_responses(
        404, 409, e404="No such job, or not one of this key's.", e409="The job has no diagnosis."
    ),
)
def get_follow_ups(session: SessionDep, caller: TrainKey, job_id: JobId) -> FollowUpPage:
    return FollowUpPage.of(service.follow_ups(session, job_id, caller))


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
    queue: QueueDep,
    caller: TrainKey,
    response: Response,
    job_id: JobId,
    body: FollowUpIn,
) -> JobOut:
    submission = service.submit_follow_up(
        session, job_id, body.suggestion, caller, queue.send, settings
    )
    return answer_submission(response, submission)


recipe_jobs_router = APIRouter(
    prefix="/v1/recipes", tags=["recipes"], responses=error_responses(401, 403, 422, 503)
)


@recipe_jobs_router.post(
    "/{name}/jobs",
    status_code=202,
    response_model=JobOut,
    summary="Submit a job from a recipe, with overrides (a partial spec)",
    dependencies=[Depends(rate_limited("job submission"))],
    responses={**SUBMIT_RESPONSES, **error_responses(404, e404="No such recipe.")},
)
def submit_recipe(
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    caller: TrainKey,
    response: Response,
    name: RecipeName,
    overrides: Annotated[
        dict[str, Any],
        Body(
            description="Spec fields to change; nested objects merge field by field.",
            openapi_examples={
                "as is": {"value": {}},
                "shorter": {"value": {"epochs": 2, "train_size": 5000}},
            },
        ),
    ] = {},  # noqa: B006 (FastAPI copies defaults per request)
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    submission = service.submit_recipe(
        session, name, overrides, caller, idempotency_key, queue.send, settings
    )
    return answer_submission(response, submission)
