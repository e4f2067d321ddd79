"""POST /v1/predict and POST /v1/models/{version}/predict."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from app.auth.deps import CallerDep, caller_id, predict_caller, rate_limited, spend
from app.auth.keys import Principal
from app.http.errors import error_responses
from app.http.params import Digits
from app.predict.schemas import PredictRequest, PredictResponse
from app.predict.service import Serving

router = APIRouter(
    tags=["predict"],
    dependencies=[Depends(predict_caller), Depends(rate_limited("predict"))],
    responses=error_responses(
        401, 403, 413, 422, 429, 503, e503="No model registered yet, or none can be loaded."
    ),
)


def serving(request: Request) -> Serving:
    state: Serving = request.app.state.serving
    return state


def who(request: Request, principal: Principal | None) -> str:
    """Whose turn the texts wait for in the batcher: the key, or the address."""
    return caller_id(principal, request.client.host if request.client else None)


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,  # no "explanation": null without `explain`
    summary="Score reviews with the champion model",
)
async def predict(body: PredictRequest, request: Request, principal: CallerDep) -> PredictResponse:
    if body.explain:
        return await explained(body, request, principal, None)
    return PredictResponse.of(await serving(request).predict(body.texts, who(request, principal)))


@router.post(
    "/v1/models/{version}/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,  # no "explanation": null without `explain`
    summary="Score reviews with a given model version",
    tags=["models"],
    responses=error_responses(404, e404="No such version."),
)
async def predict_with_version(
    body: PredictRequest,
    request: Request,
    version: Annotated[int, Digits, Path(ge=1, le=2**31 - 1)],
    principal: CallerDep,
) -> PredictResponse:
    if body.explain:
        return await explained(body, request, principal, version)
    scored = await serving(request).predict_with(version, body.texts, who(request, principal))
    return PredictResponse.of(scored)


async def explained(
    body: PredictRequest, request: Request, principal: Principal | None, version: int | None
) -> PredictResponse:
    """Scores with their explanations: a token of the caller's ``explain`` rate too."""
    spend(request.app.state, "explain", principal, request.client.host if request.client else None)
    scored, explanations = await serving(request).explain(version, body.texts, body.explain_top)
    return PredictResponse.of(scored, explanations)
