"""The FastAPI application: ``create_app()``."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from app.auth.keys import KeyCache, bootstrap_admin_key
from app.auth.router import router as keys_router
from app.core import metrics
from app.core.db import Database, upgrade_database
from app.core.logs import configure_logging
from app.core.settings import Settings
from app.dashboard.router import mount_dashboard
from app.embeddings.router import router as embeddings_router
from app.embeddings.service import vectors_cache
from app.health import router as health_router
from app.http.body_limit import BodySizeLimit, JsonDepthLimit
from app.http.deps import known_query_parameters_only
from app.http.docs import mount_docs
from app.http.errors import install_error_handlers
from app.http.ratelimit import RateLimiter
from app.http.request_ids import RequestIds, RequestLog
from app.http.security_headers import SecurityHeaders
from app.jobs.queue import JobQueue
from app.jobs.router import recipe_jobs_router
from app.jobs.router import router as jobs_router
from app.predict import open_inference, tf_serving
from app.predict.fast import TextSizes, answer_predict, predict_path
from app.predict.router import router as predict_router
from app.predict.service import Serving
from app.registry.router import router as registry_router
from app.specs.router import recipes_router
from app.specs.router import router as specs_router
from app.sweeps.router import router as sweeps_router

DESCRIPTION = """
Train sentiment networks on the IMDB movie reviews and score reviews with the best one.

Submit a training job (`POST /v1/jobs`), poll its per-epoch metrics
(`GET /v1/jobs/{id}/metrics?since_epoch=`), and once it succeeds, score reviews
with `POST /v1/predict`. Errors answer `{"error": {"code", "message", "details"}}`.

Every call but `/healthz` and `/readyz` needs an API key, sent as
`Authorization: Bearer snt_...`, with the endpoint's scope: `predict`, `train`
(your own jobs) or `admin` (everything). A fresh install prints an admin key at
its first start; `python -m app.auth create` makes more.
"""


class SentimentApi(FastAPI):
    """FastAPI, with predict requests answered in front of its middleware stack
    (app/predict/fast.py): the stack's cost per request was more than the model's."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = predict_path(scope)
        if version is None:
            await super().__call__(scope, receive, send)
        else:
            await answer_predict(self.state, scope, receive, send, version, super().__call__)


def announce_bootstrap_key(database: Database, settings: Settings) -> str | None:
    """On a fresh install, make the first admin key and print it (this once only)."""
    with database.session_scope() as session:
        key = bootstrap_admin_key(session, settings)
    if key is not None:
        # Printed once, on purpose: it is stored only as a hash.
        print(
            "\n" + "=" * 72 + "\nA fresh install: this admin API key was made for you. "
            "It is shown only this once.\n\n    " + key + "\n\n"
            "Send it as 'Authorization: Bearer <key>'. Make more keys with\n"
            "'python -m app.auth create --name NAME --scope train' or POST /v1/keys.\n"
            + "=" * 72
            + "\n",
            flush=True,
        )
    return key


def create_app(settings: Settings | None = None, migrate: bool = True) -> SentimentApi:
    """The application, with everything it shares built once and kept on its state:
    the settings (read from the environment when not given), the database, the job
    queue, the caches and, while it runs, the model serving."""
    settings = settings or Settings()
    settings.apply_umask()  # before the database file is created
    database = Database(settings.database_url)
    queue = JobQueue(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await run_in_threadpool(upgrade_database, settings.database_url)
        await run_in_threadpool(announce_bootstrap_key, database, settings)
        app.state.serving = Serving(settings, database)
        await app.state.serving.start()
        lag_watch = asyncio.create_task(metrics.watch_event_loop())
        try:
            yield
        finally:
            lag_watch.cancel()
            await app.state.serving.stop()
            queue.close()
            database.dispose()

    app = SentimentApi(
        title="IMDB sentiment service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from installed files (app/http/docs.py), not a CDN
        redoc_url=None,
        dependencies=[Depends(known_query_parameters_only)],
    )
    app.state.settings = settings
    app.state.db = database
    app.state.queue = queue
    app.state.vectors = vectors_cache()
    app.state.key_cache = KeyCache(settings.auth_cache_seconds)
    app.state.request_log = RequestLog(settings.access_log_per_second)
    app.state.text_sizes = TextSizes()
    app.state.rate_limits = {
        "job submission": RateLimiter(settings.rate_limit_jobs_per_minute),
        "predict": RateLimiter(settings.rate_limit_predict_per_minute),
        "explain": RateLimiter(settings.rate_limit_explain_per_minute),
        "spec summary": RateLimiter(settings.rate_limit_predict_per_minute),
    }
    install_error_handlers(app)
    # The last added runs first: ids, then hardening, then the body's size and depth.
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    # Outermost: every answer, a 413 too, gets an id.
    app.add_middleware(RequestIds, log=app.state.request_log)
    # Registry routes before predict: /v1/models/aliases/... must not read as a version.
    routers = (
        jobs_router,
        sweeps_router,
        recipes_router,
        recipe_jobs_router,
        specs_router,
        # Before the registry's: /v1/models/imdb-sentiment is no version number.
        tf_serving.router,
        open_inference.router,
        open_inference.health_router,
        registry_router,
        predict_router,
        embeddings_router,
        keys_router,
    )
    for router in (*routers, health_router):
        app.include_router(router)
    mount_dashboard(app)
    mount_docs(app)
    configure_logging(settings.log_format, settings.log_level)
    return app
