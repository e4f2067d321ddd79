"""The ceilings for bench/predict_load.py, behind the barest ASGI application (no key
check, limits, request ids, headers, metrics or logs). Not part of the product.

``app``: the service's model, loader and batcher (with its settings), under (c):

    SENTIMENT_NAIVE_MODEL=<a model folder> python -m app.server --app bench.bare_server:app

``refusing_app``: every predict refused on its headers, with a 503 as the service
refuses a flood, and nothing else: how fast refusals can be answered at all, under (g).

    python -m app.server --app bench.bare_server:refusing_app
"""

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.core.settings import Settings
from app.http.body_limit import read_body
from app.predict.batcher import Batcher, Overloaded
from app.predict.fast import shed_answer
from app.predict.loader import LoadedModel
from app.predict.service import overloaded, settle_memory

Scope = dict[str, Any]


def app() -> Any:
    settings = Settings()
    batcher: list[Batcher] = []

    async def serve(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                executor = ThreadPoolExecutor(settings.inference_threads)
                model = await asyncio.get_running_loop().run_in_executor(
                    executor, LoadedModel, 1, "bare", Path(os.environ["SENTIMENT_NAIVE_MODEL"]),
                    settings.inference_intra_op_threads, settings.inference_threads,
                )  # fmt: skip
                batcher.append(
                    Batcher(
                        model.score, executor, settings.batch_max_size,
                        settings.batch_max_wait_ms / 1000, settings.inference_threads,
                    )
                )  # fmt: skip
                settle_memory()
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/readyz":
            body = b'{"ready": true}'
        else:
            body = await read_body(receive) or b"{}"
            scores = await batcher[0].score(json.loads(body)["texts"])
            body = json.dumps({"probabilities": scores}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return serve


def refusing_app() -> Any:
    # The service's own refusal (status, body, Retry-After), built once.
    status, refusal, retry_after = shed_answer(overloaded(Overloaded(0.6, 0.5)))

    async def serve(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        ready = scope["path"] == "/readyz"  # the body unread, as the service refuses
        body = b'{"ready": true}' if ready else refusal
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200 if ready else status,
                    "headers": headers if ready else headers + retry_after})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    return serve
