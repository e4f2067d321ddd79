"""The specs over HTTP, before anything trains: a spec's summary, and the recipes.

POST /v1/specs/summary answers a spec's layer table, parameter counts and training
cost, as Keras's ``model.summary()`` shows them, without building anything (the
dashboard's form calls it as the spec changes); a spec this server would not admit
gets the same 422 a submission would. GET /v1/recipes lists the named specs; a job
is submitted from one in the jobs domain (``POST /v1/recipes/{name}/jobs``)."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from app.auth.deps import AnyKey, rate_limited, require
from app.auth.models import Scope
from app.http.deps import SettingsDep
from app.http.errors import error_responses
from app.specs import limits, network
from app.specs.recipes import RECIPES, find
from app.specs.schemas import RecipeOut, RecipePage, SpecSummary
from app.specs.spec import TrainingSpec

RecipeName = Annotated[
    str, Path(max_length=64, pattern=r"^[a-z0-9-]+$", description="A recipe's name.")
]

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
    limits.enforce(spec, settings)
    layers = network.layers(spec)
    return SpecSummary.of(network.training_cost(spec, layers), layers, settings)


recipes_router = APIRouter(
    prefix="/v1/recipes", tags=["recipes"], responses=error_responses(401, 403, 422, 503)
)


@recipes_router.get(
    "", response_model=RecipePage, summary="The named specs: the course's experiments"
)
def list_recipes(caller: AnyKey) -> RecipePage:
    return RecipePage(items=[RecipeOut.of(recipe) for recipe in RECIPES.values()])


@recipes_router.get(
    "/{name}",
    response_model=RecipeOut,
    summary="One recipe",
    responses=error_responses(404, e404="No such recipe."),
)
def get_recipe(caller: AnyKey, name: RecipeName) -> RecipeOut:
    return RecipeOut.of(find(name))
