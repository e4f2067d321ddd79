"""POST /v1/predict's contract before any model exists, and its limits."""


def test_predict_without_a_model_is_503_saying_to_train_one(api):
    answer = api.post("/v1/predict", json={"texts": ["Great movie."]})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "no_model"
    assert "POST /v1/jobs" in answer.json()["error"]["message"]


def test_predict_limits_answer_422_with_what_was_expected(api):
    too_many = api.post("/v1/predict", json={"texts": ["a", "b", "c", "d"]})
    assert too_many.status_code == 422
    assert "at most 3 texts" in too_many.json()["error"]["message"]
    assert "received 4" in too_many.json()["error"]["message"]
    too_long = api.post("/v1/predict", json={"texts": ["ok", "x" * 51]})
    assert too_long.status_code == 422
    assert "texts[1] has 51" in too_long.json()["error"]["message"]
    assert api.post("/v1/predict", json={"texts": []}).status_code == 422
    assert api.post("/v1/predict", json={"texts": [1, 2]}).status_code == 422
    assert api.post("/v1/predict", json={"text": "singular"}).status_code == 422


def test_health_and_readiness(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["ok"] is True


def test_readiness_reports_a_broker_that_is_down(tmp_path):
    from tests.support.api import app_settings, running_app

    dead_broker = "redis://127.0.0.1:1/0"  # nothing listens there
    with running_app(app_settings(tmp_path, broker_url=dead_broker)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["broker"]["ok"] is False and "Error" in checks["broker"]["error"]
        assert checks["database"]["ok"] and checks["migrations"]["ok"]


def test_explanations_have_a_rate_and_a_text_limit_of_their_own(tmp_path):
    from tests.support.api import app_settings, running_app

    settings = app_settings(tmp_path, rate_limit_explain_per_minute=1, explain_max_texts=2)
    with running_app(settings) as client:
        explain = {"texts": ["Great movie."], "explain": True}
        assert client.post("/v1/predict", json=explain).json()["error"]["code"] == "no_model"
        limited = client.post("/v1/predict", json=explain)
        assert limited.status_code == 429
        assert "explain requests" in limited.json()["error"]["message"]
        assert limited.headers["Retry-After"]
        # Plain scores spend none of it.
        assert client.post("/v1/predict", json={"texts": ["x"]}).status_code == 503
    with running_app(app_settings(tmp_path / "2", explain_max_texts=2)) as client:
        three = client.post("/v1/predict", json={"texts": ["a", "b", "c"], "explain": True})
        assert three.status_code == 422
        assert "at most 2 texts per request with `explain`" in three.json()["error"]["message"]
        for top in (0, 101, "ten"):
            bad = client.post(
                "/v1/predict", json={"texts": ["a"], "explain": True, "explain_top": top}
            )
            assert bad.status_code == 422
            assert bad.json()["error"]["details"][0]["field"] == "explain_top"
