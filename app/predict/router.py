"""POST /v1/predict."""

from fastapi import APIRouter

from app.deps import SessionDep, SettingsDep
from app.predict import service
from app.predict.schemas import PredictRequest, PredictResponse

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    summary="Score reviews with the champion model",
    responses={503: {"description": "No model registered yet, or the champion failed to load."}},
)
def predict(request: PredictRequest, session: SessionDep, settings: SettingsDep) -> PredictResponse:
    return service.predict(session, request.texts, settings)
