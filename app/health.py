"""Liveness and readiness."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from app.auth.deps import CallerDep, OptionalCallerDep, require
from app.auth.models import Scope
from app.core import metrics
from app.core.db import Database, migrations_head
from app.core.settings import Settings
from app.http.errors import error_responses
from app.jobs.metrics import JobsCollector
from app.jobs.queue import JobQueue
from app.registry import store

router = APIRouter(tags=["health"])
require_any_key = require(Scope.predict, Scope.train)


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database(database: Database) -> dict[str, Any]:
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}


def _broker(queue: JobQueue) -> dict[str, Any]:
    try:
        queue.reachable()
        return {"ok": True}
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}


def _store(settings: Settings) -> dict[str, Any]:
    models = store.open_store(settings, patient=False)
    try:
        models.ping()
        return {"ok": True, "where": models.description}
    except Exception as error:
        return {"ok": False, "where": models.description, "error": str(error)[:300]}


def _migrations(database: Database) -> dict[str, Any]:
    from alembic.runtime.migration import MigrationContext

    head = migrations_head()
    try:
        with database.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as error:
        return {"ok": False, "head": head, "error": f"{type(error).__name__}: {error}"[:300]}
    return {"ok": current == head, "current": current, "head": head}


@router.get(
    "/readyz",
    summary="Ready to serve: database, migrations, broker, models store, champion",
    description=(
        "Each part's state for everyone (for probes); the details behind it (errors, "
        "versions) only to an admin key. The models store counts only while no champion "
        "is loaded: a process serving one stays ready through a store outage."
    ),
)
async def readyz(request: Request, caller: OptionalCallerDep) -> JSONResponse:
    state = request.app.state
    serving = state.serving.status()
    # A refused new champion does not make the process unready while an older one serves.
    can_serve = serving["champion_version"] is None or serving["serving_version"] is not None
    checks: dict[str, dict[str, Any]] = {
        "database": await run_in_threadpool(_database, state.db),
        "migrations": await run_in_threadpool(_migrations, state.db),
        "broker": await run_in_threadpool(_broker, state.queue),
        "store": await run_in_threadpool(_store, state.settings),
        "champion": {**serving, "ok": can_serve},
    }
    serving_one = serving["serving_version"] is not None
    ready = all(check["ok"] for name, check in checks.items() if name != "store" or not serving_one)
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
async def metrics_endpoint(request: Request, caller: CallerDep) -> Response:
    state = request.app.state
    if not state.settings.metrics_public:
        await require_any_key(caller)
    body, content_type = await run_in_threadpool(metrics.exposition, JobsCollector(state.db))
    return Response(body, media_type=content_type)
