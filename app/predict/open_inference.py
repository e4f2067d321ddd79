"""The Open Inference Protocol (KServe's v2, also Triton's and Seldon MLServer's) over
REST, beside ``/v1/predict``:

    GET  /v2                                       the server's metadata
    GET  /v2/health/live, /v2/health/ready         liveness; a champion serves
    GET  /v2/models/imdb-sentiment[/versions/N]    the model's metadata (its tensors)
    GET  .../ready                                 the model can score
    POST .../infer                                 scores

The input is one BYTES tensor named ``text`` of shape ``[n]`` (or ``[n, 1]``): the
reviews, in JSON ``data``, or after the JSON header in Triton's binary tensor extension
(``Inference-Header-Content-Length``; each element a 4-byte little-endian length, then
its UTF-8 bytes). The output is the FP32 tensor ``probability`` of shape ``[n]``, in
JSON, or binary when the request asks (``"parameters": {"binary_data": true}`` on the
output, or ``binary_data_output`` on the request). Without ``/versions/N`` the champion
answers; errors answer ``{"error": "..."}`` (``protocols.py``).
"""

import json
import struct
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
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
from app.registry.artifact import INPUT, MODEL_NAME, OUTPUT

health_router = APIRouter(tags=["protocols"], route_class=ProtocolRoute, responses=RESPONSES)
router = APIRouter(
    tags=["protocols"],
    route_class=ProtocolRoute,
    dependencies=[Depends(predict_caller)],
    responses=RESPONSES,
)
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}
# The inference request, as the API's description shows it (the route reads it itself:
# its binary form is no JSON).
INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "inputs": {"type": "array", "items": _TENSOR},
                        "outputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "parameters": {"type": "object"},
                                },
                            },
                        },
                        "parameters": {"type": "object"},
                    },
                },
                "example": {
                    "inputs": [
                        {"name": INPUT, "shape": [1], "datatype": "BYTES", "data": ["Superb."]}
                    ]
                },
            }
        },
    }
}
HEADER_LENGTH = "Inference-Header-Content-Length"
SERVER_NAME = "imdb-sentiment-service"
LENGTH = struct.Struct("<I")  # a BYTES element's length, in the binary extension


@health_router.get("/v2", summary="Open Inference Protocol: the server's metadata")
async def server_metadata() -> JSONResponse:
    return JSONResponse(
        {
            "name": SERVER_NAME,
            "version": package_version("imdb-sentiment"),
            "extensions": ["binary_tensor_data"],
        }
    )


@health_router.get("/v2/health/live", summary="Open Inference Protocol: liveness")
async def live() -> JSONResponse:
    return JSONResponse({"live": True})


@health_router.get("/v2/health/ready", summary="Open Inference Protocol: readiness")
async def ready(request: Request) -> JSONResponse:
    """200 when a champion serves; 503 (the protocol's "false") before."""
    serving: Serving = request.app.state.serving
    is_ready = serving.champion is not None
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


async def _metadata(request: Request, name: str, version: int | None) -> JSONResponse:
    check_name(name)
    serving: Serving = request.app.state.serving
    number, _ = await serving.describe(version)
    return JSONResponse(
        {
            "name": MODEL_NAME,
            "versions": [str(number)],
            "platform": "tensorflow_savedmodel",
            "inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1]}],
        }
    )


async def _ready(request: Request, name: str, version: int | None) -> JSONResponse:
    check_name(name)
    serving: Serving = request.app.state.serving
    await serving.describe(version)
    return JSONResponse({"name": MODEL_NAME, "ready": True})


@router.get("/v2/models/{name}", summary="Open Inference Protocol: the champion's metadata")
async def metadata(request: Request, name: str) -> JSONResponse:
    return await _metadata(request, name, None)


@router.get(
    "/v2/models/{name}/versions/{version}",
    summary="Open Inference Protocol: a version's metadata",
)
async def version_metadata(request: Request, name: str, version: Version) -> JSONResponse:
    return await _metadata(request, name, version)


@router.get("/v2/models/{name}/ready", summary="Open Inference Protocol: the champion is ready")
async def model_ready(request: Request, name: str) -> JSONResponse:
    return await _ready(request, name, None)


@router.get(
    "/v2/models/{name}/versions/{version}/ready",
    summary="Open Inference Protocol: a version is ready",
)
async def version_ready(request: Request, name: str, version: Version) -> JSONResponse:
    return await _ready(request, name, version)


@router.post(
    "/v2/models/{name}/infer",
    summary="Open Inference Protocol: score with the champion",
    openapi_extra=INFER_BODY,
)
async def infer(request: Request, name: str, principal: CallerDep) -> Response:
    return await _infer(request, name, None, principal)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    summary="Open Inference Protocol: score with a version",
    openapi_extra=INFER_BODY,
)
async def version_infer(
    request: Request, name: str, version: Version, principal: CallerDep
) -> Response:
    return await _infer(request, name, version, principal)


async def _infer(
    request: Request, name: str, version: int | None, principal: Principal | None
) -> Response:
    check_name(name)
    content = await request.body()
    header_length = request.headers.get(HEADER_LENGTH)
    if header_length is None:
        body, binary = json_of(content), b""
    elif header_length.isdigit() and int(header_length) <= len(content):
        body, binary = json_of(content[: int(header_length)]), content[int(header_length) :]
    else:
        raise ProtocolError(
            f"{HEADER_LENGTH}: expected the JSON header's length in bytes, at most the "
            f"body's {len(content)}, received {header_length!r}."
        )
    texts, binary_output, request_id = parse(body, binary)
    scored = await score(request, principal, version, texts)
    output: dict[str, Any] = {"name": OUTPUT, "datatype": "FP32", "shape": [len(texts)]}
    answer: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_version": str(scored.version),
        "outputs": [output],
    }
    if request_id is not None:
        answer["id"] = request_id
    if not binary_output:
        output["data"] = scored.probabilities
        return JSONResponse(answer)
    data = np.asarray(scored.probabilities, dtype="<f4").tobytes()
    output["parameters"] = {"binary_data_size": len(data)}
    header = json.dumps(answer).encode()
    return Response(
        header + data,
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )


def parse(body: Any, binary: bytes) -> tuple[list[str], bool, str | None]:
    """An inference request's texts, whether it wants the output in binary, and its id."""
    if not isinstance(body, dict):
        raise ProtocolError(f'Expected a JSON object with "inputs", received {kind_of(body)}.')
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ProtocolError(
            f'Expected "inputs" to hold one tensor, {INPUT!r} (BYTES, shape [-1]), '
            f"received {kind_of(inputs)}"
            + (f" of {len(inputs)}." if isinstance(inputs, list) else ".")
        )
    tensor = inputs[0]
    if tensor.get("name") != INPUT:
        raise ProtocolError(
            f"Unexpected inference input {tensor.get('name')!r} for model {MODEL_NAME!r}: "
            f"it takes {INPUT!r}."
        )
    if tensor.get("datatype") != "BYTES":
        raise ProtocolError(
            f"Input {INPUT!r}: expected datatype BYTES, received {tensor.get('datatype')!r}."
        )
    count = _count(tensor.get("shape"))
    parameters = _parameters(tensor, f"input {INPUT!r}")
    if "binary_data_size" in parameters:
        values: list[Any] = _binary_strings(binary, parameters["binary_data_size"])
    else:
        if binary:
            raise ProtocolError(f"Input {INPUT!r}: binary data came, but no binary_data_size.")
        values = _flatten(tensor.get("data"))
    if len(values) != count:
        raise ProtocolError(
            f"Input {INPUT!r}: its shape holds {count} elements, its data {len(values)}."
        )
    texts = [text_of(value, f"{INPUT}[{i}]") for i, value in enumerate(values)]
    wants_binary = bool(_parameters(body, "the request").get("binary_data_output", False))
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list):
        raise ProtocolError(f'Expected "outputs" as an array, received {kind_of(outputs)}.')
    for requested in outputs:
        if not isinstance(requested, dict) or requested.get("name") != OUTPUT:
            named = requested.get("name") if isinstance(requested, dict) else requested
            raise ProtocolError(
                f"Unexpected inference output {named!r} for model {MODEL_NAME!r}: it "
                f"answers {OUTPUT!r}."
            )
        wants_binary |= bool(_parameters(requested, f"output {OUTPUT!r}").get("binary_data"))
    request_id = body.get("id")
    return texts, wants_binary, request_id if isinstance(request_id, str) else None


def _parameters(holder: dict[str, Any], what: str) -> dict[str, Any]:
    """The ``parameters`` object of a request, input or output ({} when absent)."""
    parameters = holder.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ProtocolError(
            f"The parameters of {what}: expected an object, received {kind_of(parameters)}."
        )
    return parameters


def _count(shape: Any) -> int:
    """The element count of a ``[n]`` or ``[n, 1]`` shape, n >= 1."""
    valid = (
        isinstance(shape, list)
        and all(isinstance(size, int) and not isinstance(size, bool) for size in shape)
        and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))
        and shape[0] >= 1
    )
    if not valid:
        raise ProtocolError(
            f"Input {INPUT!r}: expected shape [n] or [n, 1] with n >= 1 texts, "
            f"received {json.dumps(shape)}."
        )
    return int(shape[0])


def _flatten(data: Any) -> list[Any]:
    """The elements of JSON tensor data, flat or nested row-major."""
    if not isinstance(data, list):
        raise ProtocolError(
            f"Input {INPUT!r}: expected data as an array, received {kind_of(data)}."
        )
    flat: list[Any] = []
    for value in data:
        flat.extend(_flatten(value) if isinstance(value, list) else [value])
    return flat


def _binary_strings(binary: bytes, size: Any) -> list[str]:
    """BYTES elements from Triton's binary extension: each a 4-byte little-endian length,
    then that many bytes (UTF-8 text here)."""
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary):
        raise ProtocolError(
            f"Input {INPUT!r}: binary_data_size must be at most the {len(binary)} bytes after "
            f"the JSON header, received {size!r}."
        )
    data, offset = binary[:size], 0
    values: list[str] = []
    while offset < size:
        if offset + LENGTH.size > size:
            raise ProtocolError(f"Input {INPUT!r}: binary data ends inside an element's length.")
        (length,) = LENGTH.unpack_from(data, offset)
        offset += LENGTH.size
        if offset + length > size:
            raise ProtocolError(f"Input {INPUT!r}: binary data ends inside element {len(values)}.")
        try:
            values.append(data[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(
                f"Input {INPUT!r}: element {len(values)} is not UTF-8 text."
            ) from None
        offset += length
    return values
