"""Graceful shutdown of the API: told to stop (SIGTERM), it finishes the requests it
is serving (here, a slow upload) before it exits."""

import asyncio
import signal
from collections.abc import AsyncIterator

import httpx

from tests.support.services import ADMIN
from tests.support.serving import serving_api, wait_until


def test_the_api_drains_in_flight_requests_on_sigterm(exported, tmp_path):
    with serving_api(exported, tmp_path) as api:
        version = api.register(0.8)
        wait_until(lambda: api.serving_version() == version, 60, "the model serves")
        process = api.stack.processes[0]

        async def slow_body() -> AsyncIterator[bytes]:
            yield b'{"texts": ["A slow, '
            await asyncio.sleep(1.5)
            yield b'wonderful film."]}'

        async def scenario() -> httpx.Response:
            async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
                request = asyncio.create_task(
                    http.post(
                        "/v1/predict",
                        content=slow_body(),
                        headers=ADMIN | {"content-type": "application/json"},
                    )
                )
                await asyncio.sleep(0.5)  # the upload has started
                process.send_signal(signal.SIGTERM)
                return await request

        answer = asyncio.run(scenario())
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == version
        # Then it exits on its own (uvicorn re-raises the SIGTERM once it has drained),
        # its shutdown complete, never killed.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in api.stack.log("api")
