"""The predict hot path (app/predict/fast.py) answers what the FastAPI route answers:
the same scores and versions, the same errors, the same headers; and what it does not
take goes on to the route unchanged."""

import json
from concurrent.futures import ThreadPoolExecutor

from app.http.errors import error_response
from tests.support.api import app_settings, running_app, serve_copy, without_key

TEXTS = {"texts": ["A wonderful, moving film.", "Dull.", "Café crème 🎬"]}
# FastAPI's route reads any JSON type; the hot path takes application/json only.
ROUTE_ONLY = {"content-type": "application/merge-patch+json"}


def test_the_hot_path_and_the_route_give_the_same_answers(api, exported):
    version = serve_copy(api, exported)
    for path in ("/v1/predict", f"/v1/models/{version}/predict"):
        fast = api.post(path, json=TEXTS, headers={"x-request-id": "fast-1"})
        routed = api.post(path, json=TEXTS, headers=ROUTE_ONLY)
        assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
        assert fast.json() == routed.json()
        assert fast.json()["model_version"] == version
        assert fast.headers["content-type"] == routed.headers["content-type"]
        assert fast.headers["x-request-id"] == "fast-1"
        assert fast.headers["content-security-policy"] == routed.headers["content-security-policy"]


def test_the_hot_path_keeps_every_check_of_the_route(api, exported):
    serve_copy(api, exported)
    anonymous = without_key(api)
    for headers in ({}, ROUTE_ONLY):
        missing = anonymous.post("/v1/predict", json=TEXTS, headers=headers)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        too_many = api.post("/v1/predict", json={"texts": ["a"] * 4}, headers=headers)
        assert too_many.status_code == 422
        assert too_many.json()["error"]["code"] == "too_many_texts"
        unknown = api.post("/v1/models/999/predict", json=TEXTS, headers=headers)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    # Train-only keys may not predict, on either path.
    train = api.post("/v1/keys", json={"name": "t", "scopes": ["train"]}).json()["key"]
    forbidden = api.post("/v1/predict", json=TEXTS, headers={"Authorization": f"Bearer {train}"})
    assert forbidden.status_code == 403


def test_what_the_hot_path_does_not_take_goes_to_the_route(api, exported):
    serve_copy(api, exported)
    answers = [
        api.post("/v1/predict", json={"text": "singular"}),  # invalid: the route names it
        api.post("/v1/predict?verbose=1", json=TEXTS),  # unknown query parameter
        api.post("/v1/predict", content=b'{"texts": ["\\ud800"]}',
                 headers={"content-type": "application/json"}),  # half a surrogate pair
    ]  # fmt: skip
    assert [answer.status_code for answer in answers] == [422, 422, 422]
    assert answers[0].json()["error"]["details"][0]["field"] == "texts"
    assert "Unknown query parameters ['verbose']" in answers[1].json()["error"]["message"]
    assert "U+D800" in answers[2].json()["error"]["message"]


def test_the_hot_path_is_counted_under_its_route(api, exported):
    serve_copy(api, exported)
    for _ in range(2):
        assert api.post("/v1/predict", json=TEXTS).status_code == 200
    scraped = api.get("/metrics").text
    assert 'route="/v1/predict",status="200"' in scraped


def test_an_unexpected_error_on_the_hot_path_is_the_stacks_logged_500(api, exported, caplog):
    serve_copy(api, exported)

    async def broken(texts: list[str], client: str, on_deferred: object, arrived: float) -> None:
        raise RuntimeError("the model call broke")

    api.app.state.serving.predict = broken  # one request's failure, injected
    answer = api.post("/v1/predict", json=TEXTS, headers={"x-request-id": "broken-1"})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "the model call broke" not in answer.text  # logged, not sent
    assert answer.headers["x-request-id"] == "broken-1"
    assert answer.headers["x-content-type-options"] == "nosniff"
    logged = [r for r in caplog.records if "the model call broke" in r.getMessage()]
    assert logged and logged[0].levelname == "ERROR"
    assert 'route="/v1/predict",status="500"' in api.get("/metrics").text


def test_texts_that_would_wait_too_long_are_refused_at_once_with_retry_after(exported, tmp_path):
    settings = app_settings(
        tmp_path, batch_max_size=8, predict_max_texts=256, predict_max_wait_ms=1
    )
    many = {"texts": [f"A film, review number {i}." for i in range(256)]}
    with running_app(settings) as api:
        serve_copy(api, exported)
        assert api.post("/v1/predict", json=many).status_code == 200  # alone: always taken
        shed_before = shed(api)
        with ThreadPoolExecutor(max_workers=8) as pool:  # then eight at once
            answers = list(pool.map(lambda _: api.post("/v1/predict", json=many), range(8)))
        shed_after = shed(api)
    statuses = sorted(answer.status_code for answer in answers)
    assert 200 in statuses and 503 in statuses, statuses
    refused = next(answer for answer in answers if answer.status_code == 503)
    assert refused.json()["error"]["code"] == "overloaded"
    assert "SENTIMENT_PREDICT_MAX_WAIT_MS" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1
    assert shed_after - shed_before == statuses.count(503)  # each refusal counted once


def test_a_flood_is_refused_before_its_body_is_read_at_its_last_requests_size(exported, tmp_path):
    settings = app_settings(
        tmp_path, batch_max_size=8, predict_max_texts=256, predict_max_wait_ms=1
    )
    many = json.dumps({"texts": [f"A film, review number {i}." for i in range(256)]})
    # As long as 256 texts, but not JSON: parsed, it would be answered 422.
    unparsable = ("{" + "x" * (len(many) - 1)).encode()
    headers = {"content-type": "application/json"}
    with running_app(settings) as api:
        serve_copy(api, exported)
        assert api.post("/v1/predict", content=many, headers=headers).status_code == 200
        batcher = api.app.state.serving.champion.batcher  # type: ignore[attr-defined]
        portal = api.portal  # the app's event loop, which the batcher belongs to
        assert portal is not None
        release = portal.call(batcher.hold, "another client", 64)  # its body on the way
        refused = api.post("/v1/predict", content=unparsable, headers=headers)
        tiny = api.post("/v1/predict", content=b"{", headers=headers)  # one text at most
        portal.call(release)
        parsed = api.post("/v1/predict", content=unparsable, headers=headers)
    assert refused.status_code == 503  # refused unread: 256 texts would wait too long
    assert refused.json()["error"]["code"] == "overloaded"
    assert tiny.status_code == 422  # sized by its own bytes: room for it, so parsed
    assert parsed.status_code == 422  # the model idle again: taken, parsed, invalid


def test_text_sizes_are_estimated_from_each_clients_last_request_and_bounded():
    from app.predict.fast import TextSizes

    sizes = TextSizes(clients=2)
    assert sizes.estimate("new", 300_000) == 1  # not seen yet: taken as it comes
    sizes.note("flood", 300_000, 256)
    sizes.note("reader", 1_200, 1)
    assert sizes.estimate("flood", 300_000) == 256
    assert sizes.estimate("flood", 1_000) == 1  # never below one
    assert sizes.estimate("reader", 2_400) == 2
    sizes.note("third", 50, 1)  # over the bound: the least recently seen is forgotten
    assert sizes.estimate("flood", 300_000) == 1 and sizes.estimate("reader", 2_400) == 2


def shed(api) -> float:
    """The refusals counted in /metrics (this process's counter: every app's in it)."""
    series = 'sentiment_predict_shed_requests_total{reason="over_max_wait"} '
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(series):
            return float(line.removeprefix(series))
    return 0.0


def test_the_refusal_of_a_flood_is_the_stacks_answer_byte_for_byte():
    from app.predict.batcher import Overloaded
    from app.predict.fast import _unpack, shed_answer
    from app.predict.service import overloaded

    error = overloaded(Overloaded(1.75, 0.25))
    assert shed_answer(error) == _unpack(error_response(error, "POST", "/v1/predict", None))
    assert shed_answer(error)[2] == [(b"retry-after", b"2")]
