"""TensorFlow Serving's REST API (also KServe's v1 protocol), beside ``/v1/predict``:

    GET  /v1/models/imdb-sentiment[/versions/N]            the version's status
    GET  /v1/models/imdb-sentiment[/versions/N]/metadata   its signature
    POST /v1/models/imdb-sentiment[/versions/N]:predict    scores

Without ``/versions/N`` the champion answers, as ``/v1/predict``; with it, that
version, as ``/v1/models/N/predict``. A predict body is the row form,
``{"instances": ["text", {"text": "..."}, ...]}`` (answered ``{"predictions": [p, ...]}``),
or the columnar form, ``{"inputs": ["text", ...]}`` or ``{"inputs": {"text": [...]}}``
(answered ``{"outputs": [p, ...]}``); a string may come as ``{"b64": "..."}``, UTF-8.
Errors answer ``{"error": "..."}`` (``protocols.py``).
"""

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.auth.deps import CallerDep, predict_caller
from app.auth.keys import Principal
from app.predict.protocols import (
    RESPONSES,
    ProtocolError,
    ProtocolRoute,
    Version,
    check_name,
    json_of,
    kind_of,
    score,
    text_of,
)
from app.predict.service import Serving
from app.registry.artifact import INPUT, MODEL_NAME, OUTPUT, SIGNATURE

router = APIRouter(
    tags=["protocols"],
    route_class=ProtocolRoute,
    dependencies=[Depends(predict_caller)],
    responses=RESPONSES,
)
# The predict body, as the API's description shows it (the route reads it itself, to
# answer in the protocol's words).
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "instances": {"type": "array", "items": {}},
                        "inputs": {},
                        "signature_name": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "example": {"instances": ["A wonderful film.", "Dull."]},
            }
        },
    }
}
BASE = f"/v1/models/{MODEL_NAME}"
PREDICT_FIELDS = {"signature_name", "instances", "inputs"}


def _tensor(dtype: str, name: str) -> dict[str, Any]:
    return {
        "dtype": dtype,
        "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False},
        "name": name,
    }


SIGNATURE_DEF = {
    "inputs": {INPUT: _tensor("DT_STRING", f"{SIGNATURE}_{INPUT}:0")},
    "outputs": {OUTPUT: _tensor("DT_FLOAT", "StatefulPartitionedCall:0")},
    "method_name": "tensorflow/serving/predict",
}


async def _status(request: Request, version: int | None) -> JSONResponse:
    serving: Serving = request.app.state.serving
    number, _ = await serving.describe(version)
    return JSONResponse(
        {
            # TensorFlow Serving's answer, and KServe v1's (name, ready).
            "model_version_status": [
                {
                    "version": str(number),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ],
            "name": MODEL_NAME,
            "ready": True,
        }
    )


async def _metadata(request: Request, version: int | None) -> JSONResponse:
    serving: Serving = request.app.state.serving
    number, _ = await serving.describe(version)
    return JSONResponse(
        {
            "model_spec": {"name": MODEL_NAME, "signature_name": "", "version": str(number)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: SIGNATURE_DEF}}},
        }
    )


@router.get(BASE, summary="TensorFlow Serving: the champion's status")
async def status(request: Request) -> JSONResponse:
    return await _status(request, None)


@router.get(BASE + "/versions/{version}", summary="TensorFlow Serving: a version's status")
async def version_status(request: Request, version: Version) -> JSONResponse:
    return await _status(request, version)


@router.get(BASE + "/metadata", summary="TensorFlow Serving: the champion's signature")
async def metadata(request: Request) -> JSONResponse:
    return await _metadata(request, None)


@router.get(
    BASE + "/versions/{version}/metadata", summary="TensorFlow Serving: a version's signature"
)
async def version_metadata(request: Request, version: Version) -> JSONResponse:
    return await _metadata(request, version)


@router.post(
    "/v1/models/{name}:predict",
    summary="TensorFlow Serving: score with the champion",
    openapi_extra=PREDICT_BODY,
)
async def predict(request: Request, name: str, principal: CallerDep) -> JSONResponse:
    return await _predict(request, name, None, principal)


@router.post(
    "/v1/models/{name}/versions/{version}:predict",
    summary="TensorFlow Serving: score with a version",
    openapi_extra=PREDICT_BODY,
)
async def version_predict(
    request: Request, name: str, version: Version, principal: CallerDep
) -> JSONResponse:
    return await _predict(request, name, version, principal)


async def _predict(
    request: Request, name: str, version: int | None, principal: Principal | None
) -> JSONResponse:
    check_name(name)
    texts, answer_key = texts_of(json_of(await request.body()))
    scored = await score(request, principal, version, texts)
    return JSONResponse({answer_key: scored.probabilities})


def texts_of(body: Any) -> tuple[list[str], str]:
    """A predict body's texts, and the key its answer goes under: ``predictions`` for
    the row form, ``outputs`` for the columnar one."""
    if not isinstance(body, dict):
        raise ProtocolError(
            f'Expected a JSON object with "instances" or "inputs", received {kind_of(body)}.'
        )
    unknown = sorted(set(body) - PREDICT_FIELDS)
    if unknown:
        raise ProtocolError(
            f'Unknown fields {unknown}: expected "instances" or "inputs", and '
            '"signature_name" (optional).'
        )
    signature = body.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise ProtocolError(
            f"Serving signature name: {signature!r} not found in signature def; "
            f"this model has {SIGNATURE!r}."
        )
    if ("instances" in body) == ("inputs" in body):
        raise ProtocolError(
            'Expected exactly one of "instances" (the row form) and "inputs" (the columnar '
            f"form), received {'both' if 'inputs' in body else 'neither'}."
        )
    if "instances" in body:
        rows = _batch(body["instances"], "instances")
        return [_string(_named(row, f"instances[{i}]"), f"instances[{i}]")
                for i, row in enumerate(rows)], "predictions"  # fmt: skip
    columns = body["inputs"]
    if isinstance(columns, dict):
        if set(columns) != {INPUT}:
            raise ProtocolError(f"Expected the input {INPUT!r} alone, received {sorted(columns)}.")
        columns = columns[INPUT]
    values = _batch(columns, "inputs")
    return [_string(value, f"inputs[{i}]") for i, value in enumerate(values)], "outputs"


def _batch(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ProtocolError(
            f"{where}: expected a non-empty array of texts (the input {INPUT!r}, "
            f"DT_STRING of shape [-1]), received {kind_of(value)}"
            + (" with nothing in it." if value == [] else ".")
        )
    return value


def _named(row: Any, where: str) -> Any:
    """An instance given as an object: its ``text`` (a ``b64`` object is a string)."""
    if isinstance(row, dict) and set(row) != {"b64"}:
        if set(row) != {INPUT}:
            raise ProtocolError(
                f"{where}: expected the input {INPUT!r} alone, received {sorted(row)}."
            )
        return row[INPUT]
    return row


def _string(value: Any, where: str) -> str:
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            value = base64.b64decode(value["b64"], validate=True).decode("utf-8")
        except (binascii.Error, TypeError, UnicodeDecodeError) as error:
            raise ProtocolError(f"{where}: b64 is not base64 of UTF-8 text ({error}).") from None
    return text_of(value, where)
