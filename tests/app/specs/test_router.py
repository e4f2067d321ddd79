"""POST /v1/specs/summary: the layer table and parameter counts, without training."""


def test_the_course_lstm_summary_matches_keras_arithmetic(api):
    answer = api.post("/v1/specs/summary", json={"name": "course-lstm"})  # every default
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(layer["name"], layer["type"]) for layer in body["layers"]] == [
        ("embedding", "Embedding"),
        ("lstm_1", "LSTM"),
        ("output", "Dense"),
    ]
    embedding, lstm, output = body["layers"]
    assert embedding["output_shape"] == [None, 100, 100]  # 100 tokens, 100 dimensions
    assert embedding["parameters"] == 20_000 * 100 and embedding["trainable"] is False
    assert lstm["parameters"] == 4 * (128 * (100 + 128) + 128)  # four gates
    assert output["parameters"] == 128 + 1
    assert body["parameters"] == {
        "total": 2_117_377,
        "trainable": 117_377,  # the pretrained embedding is frozen by default
        "non_trainable": 2_000_000,
    }


def test_a_dense_network_with_hidden_layers_and_a_trainable_embedding(api):
    spec = {
        "name": "dense",
        "architecture": "dense",
        "hidden_layers": [12, 8],
        "dropout": 0.5,
        "embedding": {"dim": 8, "pretrained": None, "trainable": True},
        "sequence": {"max_len": 20, "vocab_size": 1000},
    }
    body = api.post("/v1/specs/summary", json=spec).json()
    assert [layer["type"] for layer in body["layers"]] == [
        "Embedding", "Flatten", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    assert body["layers"][1]["output_shape"] == [None, 160]
    expected = 1000 * 8 + (160 * 12 + 12) + (12 * 8 + 8) + (8 + 1)
    assert body["parameters"] == {"total": expected, "trainable": expected, "non_trainable": 0}


def test_an_invalid_spec_gets_the_same_422_as_a_submission(api):
    answer = api.post("/v1/specs/summary", json={"units": 0, "architecture": "transformer"})
    assert answer.status_code == 422
    fields = {detail["field"] for detail in answer.json()["error"]["details"]}
    assert fields == {"units", "architecture"}


def test_a_binarized_nb_weighted_bag_counts_its_fixed_weights_as_non_trainable(api):
    spec = {
        "name": "nb-bag",
        "architecture": "dense",
        "pooling": "average",
        "embedding": {"dim": 8, "pretrained": None, "trainable": True},
        "sequence": {"max_len": 2000, "vocab_size": 1000, "ngrams": 3, "binary": True,
                     "nb_weights": True},
    }  # fmt: skip
    body = api.post("/v1/specs/summary", json=spec).json()
    assert [(layer["name"], layer["type"]) for layer in body["layers"]] == [
        ("unique_tokens", "UniqueTokens"), ("embedding", "NaiveBayesEmbedding"),
        ("average_pooling", "MaskedAverage"), ("output", "Dense"),
    ]  # fmt: skip
    assert body["layers"][1]["parameters"] == 1000 * 8 + 1000  # vectors and one ratio each
    assert body["parameters"] == {
        "total": 1000 * 8 + 1000 + 9,
        "trainable": 1000 * 8 + 9,
        "non_trainable": 1000,
    }


def test_the_bag_options_are_refused_where_they_do_not_apply(api):
    answer = api.post(
        "/v1/specs/summary",
        json={"architecture": "lstm", "sequence": {"nb_weights": True}},
    )
    assert answer.status_code == 422
    assert "sequence.nb_weights applies to dense" in answer.text
    answer = api.post("/v1/specs/summary", json={"architecture": "dense", "pooling": "average",
                                                 "sequence": {"min_movies": 3}})  # fmt: skip
    assert answer.status_code == 422
    assert "needs nb_weights true; received min_movies 3 with nb_weights false" in answer.text
    trigrams = {"sequence": {"ngrams": 4}}
    answer = api.post("/v1/specs/summary", json=trigrams)
    assert answer.status_code == 422
    [detail] = answer.json()["error"]["details"]
    assert (detail["field"], detail["received"]) == ("sequence.ngrams", 4)
