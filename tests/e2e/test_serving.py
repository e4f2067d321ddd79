"""Serving over HTTP: dynamic batching, aliases, hot swaps under load, refused artifacts,
and the predict contract. A real API process and real SavedModels."""

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.services import ADMIN
from tests.support.serving import Api, serving_api, wait_until

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def api(exported, tmp_path_factory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("serving")
    extra = {"SENTIMENT_BATCH_MAX_WAIT_MS": "20", "SENTIMENT_MAX_BODY_BYTES": str(MAX_BODY)}
    with serving_api(exported, folder, **extra) as running:
        yield running


@pytest.fixture(scope="module")
def first_version(api: Api) -> int:
    """The module's first model version (test accuracy 0.70), registered once and
    served; the tests that need a model ask for it."""
    version = api.register(0.70)
    wait_until(lambda: api.serving_version() == version, 30, "the first model serves")
    return version


@pytest.fixture
def empty_api(exported, tmp_path) -> Iterator[Api]:
    """An API of its own on which no model was ever registered."""
    with serving_api(exported, tmp_path) as running:
        yield running


def batch_sizes(api: Api) -> tuple[float, float, float]:
    """The ``sentiment_predict_batch_size`` histogram in ``/metrics``: model calls,
    texts scored, and calls of a single text (the ``le="1.0"`` bucket)."""
    text = httpx.get(f"{api.url}/metrics", headers=ADMIN, timeout=10).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("_count", "_sum", '_bucket{le="1.0"}'):
            if line.startswith(f"sentiment_predict_batch_size{name} "):
                values[name] = float(line.rsplit(" ", 1)[1])
    return values.get("_count", 0.0), values.get("_sum", 0.0), values.get('_bucket{le="1.0"}', 0.0)


async def hammer(url: str, stop: asyncio.Event, clients: int = 8) -> list[tuple[int, Any]]:
    """Clients sending requests without pause until ``stop``; every answer, kept."""
    answers: list[tuple[int, Any]] = []

    async def client() -> None:
        async with httpx.AsyncClient(headers=ADMIN, base_url=url, timeout=30) as http:
            while not stop.is_set():
                response = await http.post(
                    "/v1/predict", json={"texts": ["Superb.", "Awful film."]}
                )
                answers.append((response.status_code, response.json()))

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


def test_1_predict_without_a_model_says_to_train_one(empty_api):
    answer = httpx.post(
        f"{empty_api.url}/v1/predict", json={"texts": ["Great."]}, timeout=10, headers=ADMIN
    )
    assert answer.status_code == 503
    assert "train one with POST /v1/jobs" in answer.json()["error"]["message"]


def test_2_the_predict_contract_scores_odd_texts(api, first_version):
    first = first_version
    odd = [
        "", "!", "ok", "Café crème, naïve — 🎬🍿", "<b>bold</b><br />text", "a" * 5000,
        "\x00\x07\x1b[31mred\x1b[0m\r\n\t",  # control characters
        "\u202eRTL override\u200b\ufeff",  # invisible and direction marks
        "\U0001d518\U0001d52b\u0130stanbul \uff46\uff55\uff4c\uff4c \u00df",  # odd letters
    ]  # fmt: skip
    answer = httpx.post(f"{api.url}/v1/predict", json={"texts": odd}, headers=ADMIN, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == first
    assert len(body["predictions"]) == len(odd)
    for prediction in body["predictions"]:
        assert 0.0 <= prediction["probability"] <= 1.0
        assert prediction["model_version"] == first

    # Half a surrogate pair is valid JSON (an escape) but not Unicode text: a clear 422.
    broken = httpx.post(
        f"{api.url}/v1/predict",
        content=json.dumps({"texts": ["fine", "lone \ud800 half"]}),  # escaped, as JS may send
        headers=ADMIN | {"content-type": "application/json"},
        timeout=30,
    )
    assert broken.status_code == 422, broken.text
    [detail] = broken.json()["error"]["details"]
    assert detail["field"] == "texts.1"
    assert "unpaired surrogate (U+D800) at character 5" in detail["message"]


def test_3_concurrent_requests_are_combined_into_batched_calls(api, first_version):
    calls_before, texts_before, singles_before = batch_sizes(api)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=ADMIN, base_url=api.url, timeout=30) as http:
            return await asyncio.gather(
                *(http.post("/v1/predict", json={"texts": [f"review {i}"]}) for i in range(48))
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 48
    # This burst's own model calls, from the batch-size histogram before and after it.
    calls_after, texts_after, singles_after = batch_sizes(api)
    calls, texts = calls_after - calls_before, texts_after - texts_before
    assert texts == 48  # every text of the burst went through the batcher
    assert 0 < calls < 48  # fewer model calls than requests
    assert calls - (singles_after - singles_before) >= 1  # a call scored more than one text


def test_4_a_slow_upload_does_not_hold_up_other_requests(api, first_version):
    async def slow_body():
        yield b'{"texts": ["'
        await asyncio.sleep(3)
        yield b'slow"]}'

    async def scenario() -> tuple[bool, int]:
        async with httpx.AsyncClient(headers=ADMIN, base_url=api.url, timeout=30) as http:
            slow = asyncio.create_task(
                http.post(
                    "/v1/predict",
                    content=slow_body(),
                    headers=ADMIN | {"content-type": "application/json"},
                )
            )
            await asyncio.sleep(0.3)
            fast = await http.post("/v1/predict", json={"texts": ["quick"]})
            assert fast.status_code == 200
            answered_first = not slow.done()
            return answered_first, (await slow).status_code

    answered_first, slow_status = asyncio.run(scenario())
    assert answered_first  # the fast request did not wait for the slow body
    assert slow_status == 200


def test_4b_an_upload_slower_than_the_wait_bound_is_scored_under_load(api, first_version):
    """The bound is on a request's wait for the model: a body that takes a second to
    come (twice the bound), while other clients keep the model busy, is scored. Counted
    from the headers, the upload's time had such requests refused or dropped, as a
    test process that paused its clients between headers and body did to the swap test
    in CI."""
    body = json.dumps({"texts": ["A slow upload of a fine film."]}).encode()
    headers = ADMIN | {"content-type": "application/json", "content-length": str(len(body))}

    async def slow_body():
        yield body[:10]
        await asyncio.sleep(1.0)
        yield body[10:]

    async def scenario() -> tuple[httpx.Response, list[tuple[int, Any]]]:
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(api.url, stop))
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            slow = await http.post("/v1/predict", content=slow_body(), headers=headers)
        stop.set()
        return slow, await load

    slow, answers = asyncio.run(scenario())
    assert slow.status_code == 200, slow.text  # not 503 overloaded
    assert slow.json()["predictions"][0]["model_version"] == first_version
    assert len(answers) > 50  # the model was busy throughout
    assert [status for status, _ in answers if status != 200] == []


def test_5_the_champion_swaps_under_load_by_a_better_model_and_by_a_pin(api, first_version):
    old = first_version
    assert api.serving_version() == old

    async def scenario() -> tuple[list[tuple[int, Any]], int]:
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(api.url, stop))
        await asyncio.sleep(1)
        better = await asyncio.to_thread(api.register, 0.90)
        await asyncio.to_thread(
            wait_until, lambda: api.serving_version() == better, 30, "better model serves"
        )
        await asyncio.sleep(1)
        pinned = await asyncio.to_thread(
            httpx.put,
            f"{api.url}/v1/models/aliases/champion",
            json={"version": old},
            headers=ADMIN,
            timeout=10,
        )
        assert pinned.status_code == 200
        await asyncio.to_thread(
            wait_until, lambda: api.serving_version() == old, 30, "the pin serves"
        )
        await asyncio.sleep(1)
        stop.set()
        return await load, better

    answers, better = asyncio.run(scenario())
    assert len(answers) > 50
    assert [status for status, _ in answers if status != 200] == []  # zero failed requests
    versions = [body["model_version"] for _, body in answers]
    assert set(versions) == {old, better}
    assert versions[-1] == old
    for _, body in answers:
        assert {p["model_version"] for p in body["predictions"]} == {body["model_version"]}
    models = httpx.get(f"{api.url}/v1/models", timeout=10, headers=ADMIN).json()
    assert models["champion"] == {"version": old, "reason": "pinned"}
    unpinned = httpx.delete(f"{api.url}/v1/models/aliases/champion", timeout=10, headers=ADMIN)
    assert unpinned.status_code == 204
    wait_until(lambda: api.serving_version() == better, 30, "unpinned: the best serves again")
    assert (
        httpx.get(f"{api.url}/v1/models", timeout=10, headers=ADMIN).json()["champion"]["reason"]
        == "best test accuracy"
    )


def test_6_a_corrupted_artifact_is_refused_and_the_old_champion_keeps_serving(api, first_version):
    serving = api.serving_version()
    assert serving is not None

    async def scenario() -> list[tuple[int, Any]]:
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(api.url, stop, clients=4))
        corrupt = await asyncio.to_thread(api.register, 0.99, True)

        def refused() -> bool:
            status = api.ready()["checks"]["champion"]
            return status["champion_version"] == corrupt and status["error"] is not None

        await asyncio.to_thread(wait_until, refused, 30, "the corrupt version is refused")
        await asyncio.sleep(1)
        stop.set()
        return await load

    answers = asyncio.run(scenario())
    assert [status for status, _ in answers if status != 200] == []
    assert {body["model_version"] for _, body in answers} == {serving}
    ready = api.ready()
    assert ready["ready"] is True  # still serving the old champion
    assert "failed its checksum check" in ready["checks"]["champion"]["error"]
    assert "variables/" in ready["checks"]["champion"]["error"]
    assert ready["checks"]["champion"]["serving_version"] == serving
    assert "refused the new champion" in api.stack.log("api")


def test_7_predict_with_a_given_version_and_alias_errors(api, first_version):
    version = first_version
    answer = httpx.post(
        f"{api.url}/v1/models/{version}/predict",
        json={"texts": ["Fine."]},
        timeout=30,
        headers=ADMIN,
    )
    assert answer.status_code == 200
    assert answer.json()["model_version"] == version
    assert (
        httpx.post(
            f"{api.url}/v1/models/999/predict", json={"texts": ["x"]}, timeout=10, headers=ADMIN
        ).status_code
        == 404
    )
    assert (
        httpx.put(
            f"{api.url}/v1/models/aliases/champion",
            json={"version": 999},
            timeout=10,
            headers=ADMIN,
        ).status_code
        == 404
    )
    assert (
        httpx.put(
            f"{api.url}/v1/models/aliases/Bad..Name",
            json={"version": version},
            timeout=10,
            headers=ADMIN,
        ).status_code
        == 422
    )
    assert (
        httpx.delete(
            f"{api.url}/v1/models/aliases/nothing-here", timeout=10, headers=ADMIN
        ).status_code
        == 404
    )
    staging = httpx.put(
        f"{api.url}/v1/models/aliases/staging", json={"version": version}, timeout=10, headers=ADMIN
    )
    assert staging.status_code == 200
    row = httpx.get(f"{api.url}/v1/models/{version}", timeout=10, headers=ADMIN).json()
    assert row["aliases"] == ["staging"] and row["status"] == "ready"


def test_8_oversized_bodies_get_413(api):
    big = {"texts": ["x" * 1000] * 100}  # about 100 KB, over the 64 KiB limit
    declared = httpx.post(f"{api.url}/v1/predict", json=big, timeout=10, headers=ADMIN)
    assert declared.status_code == 413
    assert f"at most {MAX_BODY} bytes" in declared.json()["error"]["message"]

    def chunks():
        yield b'{"texts": ["'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"]}'

    streamed = httpx.post(
        f"{api.url}/v1/predict",
        content=chunks(),
        headers=ADMIN | {"content-type": "application/json"},
        timeout=10,
    )
    assert streamed.status_code == 413


def test_9_explanations_add_up_match_the_scores_and_name_what_an_old_version_lacks(
    api, first_version, exported, tmp_path
):
    from tests.support.exports import without_explain

    texts = ["Not good at all, though the music is great. <br />Café crème!", "Superb."]

    def post(path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{api.url}{path}", json=body, timeout=60, headers=ADMIN)

    for path in ("/v1/predict", f"/v1/models/{first_version}/predict"):
        plain = post(path, {"texts": texts}).json()
        explained = post(path, {"texts": texts, "explain": True, "explain_top": 3}).json()
        assert all("explanation" not in p for p in plain["predictions"])
        assert explained["model_version"] == plain["model_version"]
        for text, score, found in zip(
            texts, plain["predictions"], explained["predictions"], strict=True
        ):
            assert abs(found["probability"] - score["probability"]) < 1e-5
            why = found["explanation"]
            assert why["method"] == "integrated_gradients"  # the GRU
            assert 1 <= len(why["tokens"]) <= 3
            total = why["base_value"] + sum(t["contribution"] for t in why["tokens"]) + why["other"]
            assert abs(total - why["logit"]) <= 0.01 * abs(why["logit"] - why["base_value"]) + 1e-3
            assert abs(1 / (1 + math.exp(-why["logit"])) - found["probability"]) < 1e-5
            for word in why["words"]:  # each word where the text has it
                assert text[word["start"] : word["end"]].isalnum()
            for token in why["tokens"]:
                span = token["spans"][0]
                assert text[span["start"] : span["end"]].lower().split() == token["token"].split()

    old = api.register(0.05, folder=without_explain(exported, tmp_path / "old"))
    refused = post(f"/v1/models/{old}/predict", {"texts": ["Fine."], "explain": True})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_explainable"
    assert f"Model version {old}" in refused.json()["error"]["message"]
    assert post(f"/v1/models/{old}/predict", {"texts": ["Fine."]}).status_code == 200


REVIEWS_FOR_PROTOCOLS = ["A wonderful, moving film.", "Dull. <br />Far too long!", "Café crème 🎬"]


def scores_of(api: Api, path: str) -> tuple[list[float], int]:
    """The probabilities and version ``POST path`` (a predict route) answers."""
    answer = httpx.post(
        f"{api.url}{path}", json={"texts": REVIEWS_FOR_PROTOCOLS}, timeout=30, headers=ADMIN
    ).json()
    return [p["probability"] for p in answer["predictions"]], answer["model_version"]


def test_10_the_open_inference_protocol_answers_tritonclient_as_predict_does(api, first_version):
    import numpy as np
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    # A fresh headers dict each call: the client writes its own headers into the one given.
    client = triton.InferenceServerClient(api.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("imdb-sentiment", headers=dict(ADMIN))
    meta = client.get_model_metadata("imdb-sentiment", headers=dict(ADMIN))
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "probability", "datatype": "FP32", "shape": [-1]}]

    def infer(version: str = "", binary: bool = True, **changes: Any) -> Any:
        texts = np.array(REVIEWS_FOR_PROTOCOLS, dtype=object)
        tensor = triton.InferInput(
            changes.get("name", "text"), [len(texts)], changes.get("datatype", "BYTES")
        )
        if changes.get("datatype", "BYTES") == "BYTES":
            tensor.set_data_from_numpy(texts, binary_data=binary)
        else:
            tensor.set_data_from_numpy(np.ones(len(texts), np.float32), binary_data=binary)
        if "shape" in changes:  # past the client's own check
            tensor.set_shape(changes["shape"])
        output = triton.InferRequestedOutput("probability", binary_data=binary)
        return client.infer(
            "imdb-sentiment", [tensor], model_version=version, outputs=[output], headers=dict(ADMIN)
        )

    champion, champion_version = scores_of(api, "/v1/predict")
    for binary in (True, False):  # Triton's binary extension, and plain JSON
        result = infer(binary=binary)
        assert np.abs(result.as_numpy("probability") - champion).max() < 1e-6
        assert result.get_response()["model_version"] == str(champion_version)
    pinned, _ = scores_of(api, f"/v1/models/{first_version}/predict")
    result = infer(version=str(first_version))
    assert np.abs(result.as_numpy("probability") - pinned).max() < 1e-6
    assert client.get_model_metadata("imdb-sentiment", str(first_version), headers=dict(ADMIN))[
        "versions"
    ] == [str(first_version)]

    wrong: dict[str, tuple[dict[str, Any], str]] = {
        "name": ({"name": "review"}, "Unexpected inference input 'review'"),
        "datatype": ({"datatype": "FP32"}, "expected datatype BYTES, received 'FP32'"),
        "shape": ({"shape": [2]}, "its shape holds 2 elements, its data 3"),
    }
    for what, (changes, message) in wrong.items():
        for binary in (True, False):
            with pytest.raises(InferenceServerException) as caught:
                infer(binary=binary, **changes)
            assert message in caught.value.message(), (what, binary)
            assert caught.value.status() == "400"
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_metadata("another-model", headers=dict(ADMIN))
    assert "this server serves 'imdb-sentiment'" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        infer(version="999")
    assert caught.value.status() == "404"
    with pytest.raises(InferenceServerException) as caught:  # the same keys
        triton.InferenceServerClient(api.url.removeprefix("http://")).get_model_metadata(
            "imdb-sentiment"
        )
    assert caught.value.status() == "401"


def test_11_tensorflow_servings_rest_api_answers_kserves_v1_client_as_predict_does(
    api, first_version
):
    from tests.support.serving import kserve_v1_calls

    champion, champion_version = scores_of(api, "/v1/predict")
    pinned, _ = scores_of(api, f"/v1/models/{first_version}/predict")
    bad = {
        "instances": (
            [[1, 2]],
            "instances[0]: expected a string (a review's text), received an array",
        ),
        "inputs": ({"review": ["x"]}, "Expected the input 'text' alone, received ['review']"),
        "signature_name": ("x", "'x' not found in signature def"),
        "empty": ([], "expected a non-empty array"),
    }
    bodies = [
        {"instances": bad["instances"][0]},
        {"inputs": bad["inputs"][0]},
        {"instances": ["x"], "signature_name": bad["signature_name"][0]},
        {"instances": bad["empty"][0]},
    ]
    answered = kserve_v1_calls(
        {
            "url": api.url,
            "headers": ADMIN,
            "version": first_version,
            "texts": REVIEWS_FOR_PROTOCOLS,
            "bad_bodies": bodies,
        }
    )
    pairs = [
        (answered["rows"]["predictions"], champion),
        (answered["columns"]["outputs"], champion),
        (answered["pinned"]["predictions"], pinned),
    ]
    for found, expected in pairs:
        assert max(abs(a - b) for a, b in zip(found, expected, strict=True)) < 1e-6
    assert answered["ready"] is True
    for error, (_, message) in zip(answered["errors"], bad.values(), strict=True):
        assert error["status"] == 400
        assert message in error["body"]["error"]
    status = httpx.get(f"{api.url}/v1/models/imdb-sentiment", headers=ADMIN, timeout=10).json()
    assert status["model_version_status"][0] == {
        "version": str(champion_version),
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    metadata = httpx.get(
        f"{api.url}/v1/models/imdb-sentiment/versions/{first_version}/metadata",
        headers=ADMIN,
        timeout=10,
    ).json()
    assert metadata["model_spec"]["version"] == str(first_version)
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["text"]["dtype"] == "DT_STRING"
