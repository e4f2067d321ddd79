"""Liveness and readiness."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from app.auth.deps import OptionalCallerDep
from app.db import get_engine

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database() -> dict[str, Any]:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}


@router.get(
    "/readyz",
    summary="The database answers; the champion is loaded (if any)",
    description="Open to probes; the checks behind the answer only to an admin key.",
)
async def readyz(request: Request, caller: OptionalCallerDep) -> JSONResponse:
    serving = request.app.state.serving.status()
    checks: dict[str, Any] = {"database": await run_in_threadpool(_database), "champion": serving}
    # A refused new champion does not make the process unready while an older one serves.
    can_serve = serving["champion_version"] is None or serving["serving_version"] is not None
    ready = checks["database"]["ok"] and can_serve
    body: dict[str, Any] = {"ready": ready}
    if caller is not None and caller.is_admin:
        body["checks"] = checks  # error texts and versions are for operators only
    return JSONResponse(body, status_code=200 if ready else 503)
