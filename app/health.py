"""Liveness and readiness."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from app import metrics
from app.auth.deps import CallerDep, OptionalCallerDep, require
from app.auth.models import Scope
from app.db import get_engine, migrations_head
from app.errors import error_responses
from app.settings import get_settings

router = APIRouter(tags=["health"])
require_any_key = require(Scope.predict, Scope.train)


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


def _broker() -> dict[str, Any]:
    from app.jobs.queue import celery_client

    try:
        with celery_client().connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        return {"ok": True}
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}


def _migrations() -> dict[str, Any]:
    from alembic.runtime.migration import MigrationContext

    head = migrations_head()
    try:
        with get_engine().connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as error:
        return {"ok": False, "head": head, "error": f"{type(error).__name__}: {error}"[:300]}
    return {"ok": current == head, "current": current, "head": head}


@router.get(
    "/readyz",
    summary="Ready to serve: database, migrations, broker, champion",
    description=(
        "Each part's state for everyone (for probes); the details behind it (errors, "
        "versions) only to an admin key."
    ),
)
async def readyz(request: Request, caller: OptionalCallerDep) -> JSONResponse:
    serving = request.app.state.serving.status()
    # A refused new champion does not make the process unready while an older one serves.
    can_serve = serving["champion_version"] is None or serving["serving_version"] is not None
    checks: dict[str, dict[str, Any]] = {
        "database": await run_in_threadpool(_database),
        "migrations": await run_in_threadpool(_migrations),
        "broker": await run_in_threadpool(_broker),
        "champion": {**serving, "ok": can_serve},
    }
    ready = all(check["ok"] for check in checks.values())
    admin = caller is not None and caller.is_admin
    shown = checks if admin else {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JSONResponse({"ready": ready, "checks": shown}, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format)",
    description="Needs a predict or train key, unless SENTIMENT_METRICS_PUBLIC opens it.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401, 403, 503)},
)
async def metrics_endpoint(caller: CallerDep) -> Response:
    if not get_settings().metrics_public:
        await require_any_key(caller)
    body, content_type = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=content_type)
