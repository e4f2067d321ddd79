"""Recipes over HTTP: list the named specs, and submit a job by name with overrides."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response
from pydantic import BaseModel, Field

from app.auth.deps import AnyKey, TrainKey, rate_limited
from app.http.deps import SessionDep, SettingsDep
from app.http.errors import error_responses
from app.jobs import service
from app.jobs.http import SUBMIT_RESPONSES, IdempotencyKey, QueueDep, answer_submission
from app.jobs.recipes import RECIPES, Recipe, find
from app.jobs.schemas import JobOut
from app.jobs.spec import TrainingSpec

router = APIRouter(
    prefix="/v1/recipes", tags=["recipes"], responses=error_responses(401, 403, 422, 503)
)

RecipeName = Annotated[
    str, Path(max_length=64, pattern=r"^[a-z0-9-]+$", description="A recipe's name.")
]


class RecipeOut(BaseModel):
    name: str
    description: str
    spec: TrainingSpec
    course_accuracy: float | None = Field(description="What the course reports, if it does.")
    course_metric: str | None = Field(description="test or validation")

    @classmethod
    def of(cls, recipe: Recipe) -> "RecipeOut":
        return cls(
            name=recipe.name,
            description=recipe.description,
            spec=recipe.spec,
            course_accuracy=recipe.course_accuracy,
            course_metric=recipe.course_metric,
        )


class RecipePage(BaseModel):
    items: list[RecipeOut]


@router.get("", response_model=RecipePage, summary="The named specs: the course's experiments")
def list_recipes(caller: AnyKey) -> RecipePage:
    return RecipePage(items=[RecipeOut.of(recipe) for recipe in RECIPES.values()])


@router.get(
    "/{name}",
    response_model=RecipeOut,
    summary="One recipe",
    responses=error_responses(404, e404="No such recipe."),
)
def get_recipe(caller: AnyKey, name: RecipeName) -> RecipeOut:
    return RecipeOut.of(find(name))


@router.post(
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
