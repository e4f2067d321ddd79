"""Application factories for tests/app/test_server.py, served by ``python -m app.server``."""

import os
from typing import Any


def pid_app() -> Any:
    """Answers every request with the id of the process that took its connection."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def broken_app() -> Any:
    raise RuntimeError("this application cannot start")
