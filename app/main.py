"""The FastAPI application: ``create_app()``."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app.db import upgrade_database
from app.errors import install_error_handlers
from app.health import router as health_router
from app.jobs.router import router as jobs_router
from app.limits import BodySizeLimit
from app.predict.router import router as predict_router
from app.predict.service import Serving
from app.registry.router import router as registry_router
from app.settings import get_settings

DESCRIPTION = """
Train sentiment networks on the IMDB movie reviews and score reviews with the best one.

Submit a training job (`POST /v1/jobs`), poll its per-epoch metrics
(`GET /v1/jobs/{id}/metrics?since_epoch=`), and once it succeeds, score reviews
with `POST /v1/predict`. Errors answer `{"error": {"code", "message", "details"}}`.
"""


def create_app(migrate: bool = True) -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await run_in_threadpool(upgrade_database)
        app.state.serving = Serving(settings)
        await app.state.serving.start()
        try:
            yield
        finally:
            await app.state.serving.stop()

    app = FastAPI(
        title="IMDB sentiment service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Registry routes before predict: /v1/models/aliases/... must not read as a version.
    for router in (jobs_router, registry_router, predict_router, health_router):
        app.include_router(router)
    logging.getLogger("app").setLevel(logging.INFO)
    return app
