"""HTTP endpoints of the model registry."""

from typing import Annotated

from fastapi import APIRouter, Path

from app.deps import SessionDep
from app.registry import service
from app.registry.schemas import ModelVersionOut, ModelVersionPage

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelVersionPage, summary="Model versions; which is champion")
def list_models(session: SessionDep) -> ModelVersionPage:
    return service.list_versions(session)


@router.get("/{version}", response_model=ModelVersionOut, summary="One model version")
def get_model(
    session: SessionDep, version: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> ModelVersionOut:
    return service.get_version(session, version)
