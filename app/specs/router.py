"""POST /v1/specs/summary: a spec's layer table, parameter counts and training cost,
as Keras's ``model.summary()`` shows them, without building anything (the dashboard's
form calls it as the spec changes). A spec this server would not admit gets the same
422 a submission would."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from app.auth.deps import rate_limited, require
from app.auth.models import Scope
from app.http.deps import SettingsDep
from app.http.errors import error_responses
from app.jobs import network, spec_limits
from app.jobs.spec import TrainingSpec
from app.specs.schemas import SpecSummary

router = APIRouter(
    prefix="/v1/specs", tags=["jobs"], responses=error_responses(401, 403, 413, 422, 429, 503)
)


@router.post(
    "/summary",
    response_model=SpecSummary,
    summary="The layers, parameter counts and training cost a spec would have",
    dependencies=[
        Depends(require(Scope.train, Scope.predict)),
        Depends(rate_limited("spec summary")),
    ],
)
async def spec_summary(settings: SettingsDep, spec: Annotated[TrainingSpec, Body()]) -> SpecSummary:
    # Arithmetic on the spec (microseconds): no thread, no TensorFlow, no weights.
    spec_limits.enforce(spec, settings)
    layers = network.layers(spec)
    return SpecSummary.of(network.training_cost(spec, layers), layers, settings)
