"""POST /v1/specs/summary: a spec's layer table and parameter counts, as Keras's
``model.summary()`` shows them, without training (the dashboard's form calls it as
the spec changes)."""

import json
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from app.auth.deps import rate_limited, require
from app.auth.models import Scope
from app.core.cache import BoundedCache
from app.http.errors import error_responses
from app.jobs.spec import TrainingSpec
from app.specs.schemas import SpecSummary

router = APIRouter(
    prefix="/v1/specs", tags=["jobs"], responses=error_responses(401, 403, 413, 422, 429, 503)
)
_building = threading.Lock()
SHAPING_FIELDS = {
    "architecture", "units", "recurrent_layers", "bidirectional", "hidden_layers", "pooling",
    "embedding", "sequence", "dropout",
}  # fmt: skip  # Keras model building is not made for threads


SummaryCache = BoundedCache[str, dict[str, Any]]


def summary_cache() -> SummaryCache:
    return BoundedCache(256)


def _summary(spec_json: str) -> dict[str, Any]:
    # The training library's model builder: TensorFlow, loaded on first use.
    from worker.training.architectures import summarize

    with _building:
        return summarize(TrainingSpec.model_validate_json(spec_json))


@router.post(
    "/summary",
    response_model=SpecSummary,
    summary="The layers and parameter counts a spec would build, without training",
    dependencies=[
        Depends(require(Scope.train, Scope.predict)),
        Depends(rate_limited("spec summary")),
    ],
)
def spec_summary(request: Request, spec: Annotated[TrainingSpec, Body()]) -> SpecSummary:
    # Only what shapes the network matters; the cache ignores the rest of the spec.
    shape = spec.model_dump(mode="json", include=SHAPING_FIELDS)
    base = TrainingSpec.model_validate(shape)
    key = json.dumps(base.model_dump(mode="json"), sort_keys=True)
    cache: SummaryCache = request.app.state.summaries
    return SpecSummary.model_validate(cache.get_or_load(key, lambda: _summary(key)))
