"""KServe's REST inference client calling the service's TensorFlow Serving (v1) routes.

Run by the Python of ``.venv-kserve`` (the Makefile installs KServe there from its own
lock), never imported by the tests: ``kserve_v1_calls`` runs it in a process of its own.
It reads the calls' inputs as JSON on stdin and prints what the client answered.
"""

import asyncio
import json
import sys
from typing import Any

import httpx
from kserve import InferenceRESTClient, RESTConfig

NAME = "imdb-sentiment"


async def calls(given: dict[str, Any]) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v1", timeout=60))
    url, texts = given["url"], given["texts"]

    def headers() -> dict[str, str]:  # a fresh dict: a client may write into the one given
        return dict(given["headers"])

    pinned = f"{NAME}/versions/{given['version']}"
    named = [{"text": text} for text in texts]
    answered: dict[str, Any] = {
        "rows": await client.infer(url, {"instances": texts}, NAME, headers=headers()),
        "columns": await client.infer(url, {"inputs": {"text": texts}}, NAME, headers=headers()),
        "pinned": await client.infer(url, {"instances": named}, pinned, headers=headers()),
        "ready": await client.is_model_ready(url, NAME, headers=headers()),
        "errors": [],
    }
    for body in given["bad_bodies"]:
        try:
            await client.infer(url, body, NAME, headers=headers())
            answered["errors"].append(None)
        except httpx.HTTPStatusError as error:
            response = error.response
            answered["errors"].append({"status": response.status_code, "body": response.json()})
    return answered


if __name__ == "__main__":
    print(json.dumps(asyncio.run(calls(json.loads(sys.stdin.read())))))
