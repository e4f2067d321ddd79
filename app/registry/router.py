"""HTTP endpoints of the model registry."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.auth.deps import AdminKey, AnyKey, TrainKey, rate_limited
from app.http.deps import SessionDep, SettingsDep
from app.http.errors import error_responses
from app.http.params import Digits
from app.jobs.schemas import JobOut
from app.jobs.submission import SUBMIT_RESPONSES, IdempotencyKey, QueueDep, answer_submission
from app.registry import service, store
from app.registry.schemas import (
    AliasIn,
    AliasName,
    AliasOut,
    EnsembleIn,
    ModelVersionOut,
    ModelVersionPage,
)

router = APIRouter(
    prefix="/v1/models", tags=["models"], responses=error_responses(401, 403, 422, 503)
)

Version = Annotated[int, Digits, Path(ge=1, le=2**31 - 1, description="A model version number.")]
Alias = Annotated[
    AliasName,
    Path(
        description="Lowercase letters, digits and '-', starting with a letter; 'champion' serves."
    ),
]


@router.get(
    "", response_model=ModelVersionPage, summary="Model versions; which is champion, and why"
)
def list_models(session: SessionDep, settings: SettingsDep, caller: AnyKey) -> ModelVersionPage:
    return ModelVersionPage.of(
        service.list_versions(session, store.open_store(settings, patient=False), caller)
    )


@router.post(
    "/ensembles",
    status_code=202,
    response_model=JobOut,
    summary="Make an ensemble of versions: a job that evaluates and registers their average",
    dependencies=[Depends(rate_limited("job submission"))],
    responses=SUBMIT_RESPONSES,
)
def create_ensemble(
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    caller: TrainKey,
    response: Response,
    body: EnsembleIn,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    """A job like any other (train scope, the same rate limit and queue quota): a
    worker loads the members, exports one SavedModel averaging their probabilities,
    evaluates it on the whole test set and registers it as a new version, champion
    by the same rule as every version. 202 with the job and its ``Location``."""
    submission = service.create_ensemble(
        session,
        body.name,
        body.members,
        body.given_weights,
        caller,
        idempotency_key,
        queue.send,
        settings,
    )
    return answer_submission(response, submission)


@router.get(
    "/{version}",
    response_model=ModelVersionOut,
    summary="One model version",
    responses=error_responses(404, e404="No such version."),
)
def get_model(
    session: SessionDep, settings: SettingsDep, caller: AnyKey, version: Version
) -> ModelVersionOut:
    return ModelVersionOut.of(
        service.get_version(session, version, store.open_store(settings, patient=False), caller)
    )


@router.put(
    "/aliases/{alias}",
    response_model=AliasOut,
    summary="Pin an alias to a version ('champion' decides which version serves)",
    responses=error_responses(404, 413, e404="No such version."),
)
def pin_alias(session: SessionDep, caller: AdminKey, alias: Alias, body: AliasIn) -> AliasOut:
    return AliasOut.of(service.pin(session, alias, body.version))


@router.delete(
    "/aliases/{alias}",
    status_code=204,
    summary="Unpin an alias",
    responses=error_responses(404, e404="The alias is not pinned."),
)
def unpin_alias(session: SessionDep, caller: AdminKey, alias: Alias) -> Response:
    service.unpin(session, alias)
    return Response(status_code=204)
