"""Recipes: the course's experiments by name, submitted with overrides."""


def test_the_recipes_are_listed_with_the_course_figures(api):
    items = {r["name"]: r for r in api.get("/v1/recipes").json()["items"]}
    assert {
        "course-dense", "course-dense-12-8", "course-lstm-128",
        "course-gru-32", "course-gru-32-dropout", "course-simple-rnn", "best",
        "best-bigram-bag", "best-adam-0.002", "best-every-ngram",
    } <= set(items)  # fmt: skip
    best, previous = items["best"]["spec"], items["best-bigram-bag"]["spec"]
    assert (best["pooling"], best["sequence"]["ngrams"]) == ("average", 3)
    assert best["sequence"]["nb_weights"] and best["sequence"]["binary"]
    assert best["sequence"]["min_movies"] > 1
    assert (previous["pooling"], previous["sequence"]["ngrams"]) == ("average", 2)
    # The earlier `best`s, kept by name: the same network, every n-gram weighing; one
    # trained as today's, one chosen while reading the test set.
    every, earlier = items["best-every-ngram"]["spec"], items["best-adam-0.002"]["spec"]
    for kept in (every, earlier):
        assert kept["sequence"] == best["sequence"] | {"min_movies": 1}
        assert kept["embedding"] == best["embedding"]
    assert every["optimizer"] == best["optimizer"] and every["epochs"] == 5
    assert (earlier["optimizer"]["learning_rate"], earlier["epochs"]) == (0.002, 6)
    assert items["course-lstm-128"]["course_accuracy"] == 0.85
    assert items["course-gru-32"]["spec"]["optimizer"]["name"] == "rmsprop"
    assert api.get("/v1/recipes/course-dense").json()["spec"]["architecture"] == "dense"


def test_a_job_from_a_recipe_with_overrides_merges_nested_fields(api):
    overrides = {"epochs": 2, "optimizer": {"learning_rate": 0.01}, "train_size": 500}
    answer = api.post("/v1/recipes/course-gru-32/jobs", json=overrides)
    assert answer.status_code == 202, answer.text
    spec = answer.json()["spec"]
    assert (spec["architecture"], spec["units"], spec["epochs"]) == ("gru", 32, 2)
    assert spec["optimizer"] == {"name": "rmsprop", "learning_rate": 0.01, "momentum": 0.9}
    assert answer.headers["location"] == f"/v1/jobs/{answer.json()['id']}"
    as_is = api.post("/v1/recipes/course-dense/jobs")
    assert as_is.status_code == 202 and as_is.json()["spec"]["epochs"] == 6


def test_bad_recipes_and_overrides_say_what_is_wrong(api):
    unknown = api.post("/v1/recipes/course-transformer/jobs", json={})
    assert unknown.status_code == 404
    assert "'course-lstm-128'" in unknown.json()["error"]["message"]
    bad = api.post("/v1/recipes/course-dense/jobs", json={"epochs": 0, "epoch": 3})
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["error"]["details"]} == {"epochs", "epoch"}
    assert "The recipe 'course-dense' with these overrides" in bad.json()["error"]["message"]
    assert api.post("/v1/recipes/course-dense/jobs", json=[1, 2]).status_code == 422
    recurrent_on_dense = api.post("/v1/recipes/course-dense/jobs", json={"recurrent_layers": 2})
    assert recurrent_on_dense.status_code == 422
    assert api.get("/v1/jobs").json()["total"] == 0
