"""Admission by real cost: one estimate of a network's parameters and training memory,
from the spec alone, refuses what the server cannot train on every path that makes a
job (and on the summary), naming the estimate, the limit and the fields behind it."""

from typing import Any

from app.specs import network
from app.specs.recipes import RECIPES
from app.specs.spec import TrainingSpec
from tests.support.api import app_settings, running_app

# The reproductions of the hostile-input report.
HUGE_EMBEDDING = {
    "architecture": "dense",
    "pooling": "average",
    "embedding": {"dim": 1024, "pretrained": None},
    "sequence": {"vocab_size": 1_000_000, "max_len": 10},
}
HUGE_DENSE = {
    "architecture": "dense",
    "pooling": "flatten",
    "hidden_layers": [1024] * 8,
    "embedding": {"dim": 1024, "pretrained": None, "trainable": True},
    "sequence": {"max_len": 2000, "vocab_size": 48828},
    "epochs": 200,
    "batch_size": 4096,
}
DEEP_BILSTM = {
    "architecture": "lstm",
    "units": 1024,
    "recurrent_layers": 4,
    "bidirectional": True,
    "embedding": {"dim": 100, "pretrained": None},
    "sequence": {"max_len": 2000, "vocab_size": 20000},
    "epochs": 200,
}


def refused(answer: Any) -> tuple[str, dict[str, Any]]:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "spec_not_admitted"
    return error["message"], {detail["field"]: detail for detail in error["details"]}


def test_the_estimate_counts_weights_optimizer_and_activations():
    spec = TrainingSpec.model_validate({"name": "course-lstm"})  # every default
    cost = network.training_cost(spec)
    assert cost.parameters.total == 2_117_377 and cost.parameters.trainable == 117_377
    assert cost.weights_bytes == 4 * 2_117_377
    assert cost.optimizer_bytes == 4 * 117_377 * 3  # gradients, and Adam's two slots
    # Per review: the embedding's 100 x 100 outputs, the LSTM's 128 and its 100 steps
    # of 4 gates and a state, the output; forward and backward, for a batch of 128.
    assert cost.activations_bytes == 2 * 4 * 128 * (100 * 100 + 128 + 100 * 128 * 5 + 1)
    plain_sgd = TrainingSpec.model_validate({"optimizer": {"name": "sgd", "momentum": 0.0}})
    assert network.training_cost(plain_sgd).optimizer_bytes == 4 * 117_377


def test_every_recipe_is_admitted_on_the_default_limits(tmp_path):
    with running_app(app_settings(tmp_path)) as api:
        for name in RECIPES:
            answer = api.post("/v1/specs/summary", json=RECIPES[name].spec.model_dump())
            assert answer.status_code == 200, (name, answer.text)


def test_the_huge_summary_request_is_refused_at_once(api):
    message, fields = refused(api.post("/v1/specs/summary", json=HUGE_EMBEDDING))
    assert "SENTIMENT_MAX_EMBEDDING_PARAMETERS" in message
    assert fields["embedding.dim"]["received"] == 1_000_000 * 1024


def test_a_network_over_the_parameter_limit_is_refused_naming_its_largest_layer(api):
    message, fields = refused(api.post("/v1/jobs", json=HUGE_DENSE))
    assert "2,097," in message and "SENTIMENT_MAX_PARAMETERS" in message
    assert "its largest layer, hidden_1" in message
    assert set(fields) >= {"hidden_layers.0", "sequence.max_len", "embedding.dim"}
    assert fields["hidden_layers.0"]["received"] == 1024


def test_a_network_over_the_memory_limit_is_refused_naming_what_drives_it(api):
    message, fields = refused(api.post("/v1/jobs", json=DEEP_BILSTM))
    assert "SENTIMENT_MAX_TRAINING_MEMORY" in message and "GiB" in message
    assert "the activations of one batch" in message
    assert {"batch_size", "sequence.max_len", "units"} <= set(fields)
    assert fields["sequence.max_len"]["received"] == 2000


def test_the_same_admission_guards_recipes_follow_ups_and_every_sweep_point(api):
    _, fields = refused(
        api.post("/v1/recipes/course-lstm-128/jobs", json={"units": 1024, "recurrent_layers": 4,
                 "bidirectional": True, "sequence": {"max_len": 2000}})
    )  # fmt: skip
    assert "units" in fields
    sweep = {
        "name": "too big",
        "base": {
            "architecture": "dense",
            "embedding": {"dim": 1024, "pretrained": None},
            "sequence": {"max_len": 2000, "vocab_size": 48828},
            "batch_size": 16,
        },
        "grid": {"hidden_layers": [[8], [1024] * 8]},
    }
    answer = api.post("/v1/sweeps", json=sweep)
    message, _ = refused(answer)
    assert message.startswith("This server does not admit Point 2 (hidden_layers=")
    assert api.get("/v1/jobs").json()["total"] == 0  # the sweep left nothing behind


def test_operators_set_the_limits(tmp_path):
    settings = app_settings(tmp_path, max_parameters=1_000_000, max_training_memory="64MiB")
    with running_app(settings) as api:
        course = api.post("/v1/specs/summary", json={"name": "course-lstm"})
        message, fields = refused(course)  # 2.1 M parameters, about 86 MiB
        assert "limit of 1,000,000 (SENTIMENT_MAX_PARAMETERS)" in message
        assert "limit of 64.0 MiB (SENTIMENT_MAX_TRAINING_MEMORY)" in message
        assert {"sequence.vocab_size", "embedding.dim"} <= set(fields)
        small = {"sequence": {"vocab_size": 5000}, "batch_size": 32}
        answer = api.post("/v1/specs/summary", json=small)
        assert answer.status_code == 200, answer.text
        estimate = answer.json()["estimate"]
        assert estimate["max_parameters"] == 1_000_000
        assert estimate["max_training_memory_bytes"] == 64 * 1024**2
        assert estimate["training_memory_bytes"] == sum(
            estimate[part] for part in ("weights_bytes", "optimizer_bytes", "activations_bytes")
        )
