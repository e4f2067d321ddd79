from typing import Any

import keras
import numpy as np
import pytest

from app.specs import network
from app.specs.recipes import RECIPES
from app.specs.spec import TrainingSpec
from tests.support.specs import TEST_METRICS, tiny_spec
from worker.training.architectures import (
    build_model,
    compile_model,
    layer_table,
    make_optimizer,
    parameter_counts,
)
from worker.training.pipeline import train

VOCABULARY_SIZE = 2000


@pytest.mark.parametrize(
    ("architecture", "optimizer", "loss"),
    [
        ("dense", "sgd", "binary_crossentropy"),
        ("simple_rnn", "adagrad", "mse"),
        ("lstm", "rmsprop", "binary_crossentropy"),
        ("gru", "adam", "mse"),
    ],
)
def test_every_architecture_and_optimizer_trains_on_real_reviews(
    settings, architecture, optimizer, loss
):
    spec = tiny_spec(
        architecture=architecture,
        optimizer={"name": optimizer},
        loss=loss,
        hidden_layers=[4],
    )
    result = train(spec, settings)
    assert not result.cancelled
    [epoch] = result.history
    assert np.isfinite([epoch.loss, epoch.val_loss]).all()
    assert 0 <= epoch.accuracy <= 1 and 0 <= epoch.val_accuracy <= 1
    assert result.test_metrics is not None
    assert set(result.test_metrics) == TEST_METRICS
    assert result.sizes == {"train": 240, "validation": 60, "test": 300}
    assert type(result.model.optimizer).__name__.lower() == optimizer
    assert result.model.loss == loss


@pytest.mark.parametrize("architecture", ["simple_rnn", "lstm", "gru"])
def test_recurrent_layers_stack_and_go_bidirectional(architecture):
    spec = tiny_spec(
        architecture=architecture,
        recurrent_layers=2,
        bidirectional=True,
        dropout=0.3,
        recurrent_dropout=0.2,
    )
    model = build_model(spec, VOCABULARY_SIZE)
    wrappers = [layer for layer in model.layers if isinstance(layer, keras.layers.Bidirectional)]
    assert len(wrappers) == 2
    first, second = (wrapper.forward_layer for wrapper in wrappers)
    assert first.return_sequences and not second.return_sequences
    assert (first.dropout, first.recurrent_dropout) == (0.3, 0.2)
    assert wrappers[-1].output.shape == (None, 2 * spec.units)


def test_dropout_and_regularization_are_in_the_built_dense_model():
    spec = tiny_spec(
        architecture="dense",
        hidden_layers=[12, 8],
        dropout=0.5,
        regularization={"l1": 0.01, "l2": 0.001},
    )
    model = build_model(spec, VOCABULARY_SIZE)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.rate for layer in dropouts] == [
        0.5,
        0.5,
        0.5,
    ]  # after Flatten and each hidden layer
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [12, 8, 1]
    for layer in dense:
        assert layer.kernel_regularizer.l1 == pytest.approx(0.01)
        assert layer.kernel_regularizer.l2 == pytest.approx(0.001)
    assert len(model.losses) == 3  # one penalty per kernel, counted in the loss


def test_no_regularization_adds_no_penalty():
    model = build_model(tiny_spec(architecture="lstm"), VOCABULARY_SIZE)
    assert model.losses == []
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]


def test_hidden_activation_is_applied():
    model = build_model(
        tiny_spec(architecture="dense", hidden_layers=[6], hidden_activation="tanh"),
        VOCABULARY_SIZE,
    )
    assert model.get_layer("hidden_1").activation.__name__ == "tanh"
    assert model.get_layer("output").activation.__name__ == "sigmoid"


def test_optimizers_take_the_specs_rate_and_momentum():
    sgd = make_optimizer(
        tiny_spec(optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.8})
    )
    assert isinstance(sgd, keras.optimizers.SGD)
    assert float(sgd.learning_rate) == pytest.approx(0.05) and sgd.momentum == pytest.approx(0.8)
    for name, kind in (
        ("adagrad", keras.optimizers.Adagrad),
        ("rmsprop", keras.optimizers.RMSprop),
        ("adam", keras.optimizers.Adam),
    ):
        optimizer = make_optimizer(tiny_spec(optimizer={"name": name, "learning_rate": 0.002}))
        assert isinstance(optimizer, kind) and float(optimizer.learning_rate) == pytest.approx(
            0.002
        )


def test_parameter_counts_match_the_keras_formulas():
    units, dim, max_len = 8, 16, 32
    embedding = VOCABULARY_SIZE * dim
    frozen = tiny_spec(
        architecture="lstm", embedding={"dim": dim, "pretrained": None, "trainable": False}
    )
    counts = parameter_counts(compile_model(build_model(frozen, VOCABULARY_SIZE), frozen))
    lstm = 4 * (units * (dim + units) + units)
    assert counts == {
        "total": embedding + lstm + units + 1,
        "trainable": lstm + units + 1,
        "non_trainable": embedding,
    }
    dense = tiny_spec(architecture="dense", hidden_layers=[12])
    counts = parameter_counts(build_model(dense, VOCABULARY_SIZE))
    assert counts["trainable"] == embedding + (max_len * dim * 12 + 12) + (12 + 1)
    assert counts["total"] == build_model(dense, VOCABULARY_SIZE).count_params()


def test_a_pretrained_matrix_seeds_a_frozen_embedding():
    spec = tiny_spec(
        architecture="gru", embedding={"dim": 16, "pretrained": None, "trainable": False}
    )
    matrix = np.random.default_rng(1).normal(size=(VOCABULARY_SIZE, 16)).astype(np.float32)
    layer = build_model(spec, VOCABULARY_SIZE, matrix).get_layer("embedding")
    assert np.array_equal(layer.get_weights()[0], matrix)
    assert not layer.trainable


@pytest.mark.parametrize(
    ("pooling", "layer"), [("average", "MaskedAverage"), ("max", "GlobalMaxPooling1D")]
)
def test_pooling_makes_a_bag_of_tokens_that_ignores_order_and_padding(pooling, layer):
    embedding = {"dim": 4, "pretrained": None}
    model = build_model(tiny_spec(architecture="dense", pooling=pooling, embedding=embedding), 10)
    assert [type(item).__name__ for item in model.layers] == ["Embedding", layer, "Dense"]

    def score(ids: list[int]) -> float:  # a review of the spec's 32 tokens, padded in front
        return float(model(np.array([[0] * (32 - len(ids)) + ids], dtype=np.int32))[0, 0])

    assert score([5, 6]) == pytest.approx(score([6, 5]))  # a bag: order does not count
    # The average masks the padding: unmasked, it would count 31 or 29 padding vectors
    # and the two would differ. (A maximum over repeats is the same either way.)
    assert score([5]) == pytest.approx(score([5, 5, 5]))
    assert 0.0 <= score([]) <= 1.0  # an empty review (all padding) still gets a probability


def test_binary_counts_each_token_once_and_nb_weights_scale_each_token():
    spec = tiny_spec(
        architecture="dense",
        pooling="average",
        embedding={"dim": 4, "pretrained": None, "trainable": True},
        sequence={"max_len": 32, "vocab_size": 2000, "binary": True, "nb_weights": True},
    )
    ratios = np.zeros(10, np.float32)
    ratios[2:] = np.linspace(-2, 2, 8)
    model = build_model(spec, 10, nb_ratios=ratios)
    assert [type(item).__name__ for item in model.layers] == [
        "UniqueTokens", "NaiveBayesEmbedding", "MaskedAverage", "Dense",
    ]  # fmt: skip
    unique = model.get_layer("unique_tokens")
    ids = np.array([[0, 0, 5, 3, 5, 5, 3, 9]], dtype=np.int32)
    assert sorted(np.asarray(unique(ids))[0].tolist()) == [0, 0, 0, 0, 0, 3, 5, 9]

    def score(tokens: list[int]) -> float:
        return float(model(np.array([[0] * (32 - len(tokens)) + tokens], dtype=np.int32))[0, 0])

    assert score([5, 5, 5, 6]) == pytest.approx(score([6, 5]))  # a set of tokens
    embedding = model.get_layer("embedding")
    vectors = np.asarray(embedding(np.array([[2, 7, 0]], dtype=np.int32)))[0]
    table = np.asarray(embedding.embeddings)
    np.testing.assert_allclose(vectors, table[[2, 7, 0]] * ratios[[2, 7, 0], None], rtol=1e-6)
    assert [w.name for w in embedding.non_trainable_weights] == ["nb_ratios"]
    np.testing.assert_array_equal(vectors[2], np.zeros(4))  # padding's ratio is 0


def test_the_nb_weights_are_saved_and_loaded_with_the_model_weights(tmp_path):
    spec = tiny_spec(
        architecture="dense",
        pooling="average",
        sequence={"max_len": 32, "vocab_size": 2000, "nb_weights": True},
    )
    ratios = np.linspace(-1, 1, 10).astype(np.float32)
    model = build_model(spec, 10, nb_ratios=ratios)
    model.save_weights(tmp_path / "checkpoint.weights.h5")  # what checkpoints.py does
    restored = build_model(spec, 10)  # ratios 0 until loaded
    restored.load_weights(tmp_path / "checkpoint.weights.h5")
    np.testing.assert_array_equal(np.asarray(restored.get_layer("embedding").ratios), ratios)
    np.testing.assert_array_equal(
        np.asarray(restored.get_layer("embedding").embeddings),
        np.asarray(model.get_layer("embedding").embeddings),
    )


def test_nb_weights_and_binary_are_for_dense_networks_with_a_learned_embedding():
    bag = {"architecture": "dense", "pooling": "average"}
    learned = {"dim": 8, "pretrained": None, "trainable": True}
    with pytest.raises(ValueError, match=r"sequence\.binary needs pooling"):
        tiny_spec(architecture="dense", sequence={"binary": True})
    with pytest.raises(ValueError, match=r"sequence\.nb_weights applies to dense"):
        tiny_spec(architecture="gru", sequence={"nb_weights": True})
    with pytest.raises(ValueError, match=r"sequence\.binary applies to dense"):
        tiny_spec(architecture="lstm", sequence={"binary": True})
    with pytest.raises(ValueError, match="scales a learned embedding"):
        tiny_spec(**bag, embedding={"dim": 8, "pretrained": None, "trainable": False},
                  sequence={"nb_weights": True})  # fmt: skip
    assert tiny_spec(**bag, embedding=learned, sequence={"nb_weights": True, "ngrams": 3})


def test_pooling_is_for_dense_networks_only():
    with pytest.raises(ValueError, match="pooling applies to dense"):
        tiny_spec(architecture="lstm", pooling="average")


SMALL = {
    "sequence": {"vocab_size": 500, "max_len": 12},
    "embedding": {"dim": 8, "pretrained": None},
}
SHAPES: list[dict[str, Any]] = [
    {"architecture": "dense"},
    {"architecture": "dense", "pooling": "average", "dropout": 0.2, "hidden_layers": [7, 5]},
    {"architecture": "dense", "pooling": "max", "hidden_layers": [3]},
    {"architecture": "lstm", "units": 6},
    {"architecture": "gru", "units": 5, "recurrent_layers": 2, "bidirectional": True,
     "hidden_layers": [4], "dropout": 0.1},
    {"architecture": "simple_rnn", "units": 3, "recurrent_layers": 3},
    {"architecture": "lstm", "units": 4, "bidirectional": True,
     "embedding": {"dim": 8, "pretrained": None, "trainable": True}},
    {"architecture": "dense", "pooling": "average", "dropout": 0.5,
     "sequence": {"vocab_size": 500, "max_len": 12, "ngrams": 3, "binary": True,
                  "nb_weights": True},
     "embedding": {"dim": 8, "pretrained": None, "trainable": True}},
    {"architecture": "dense", "pooling": "max", "hidden_layers": [3],
     "sequence": {"vocab_size": 500, "max_len": 12, "binary": True}},
]  # fmt: skip


@pytest.mark.parametrize(
    "spec",
    [recipe.spec for recipe in RECIPES.values()]
    + [TrainingSpec.model_validate(SMALL | shape) for shape in SHAPES],
    ids=[*RECIPES, *(f"small-{i}" for i in range(len(SHAPES)))],
)
def test_the_summary_computed_without_keras_matches_the_built_model(spec):
    # The API's summary and admission (app/specs/network.py) never build the network:
    # every layer's name, type, shape and parameters must still be what Keras builds.
    model = build_model(spec, spec.sequence.vocab_size)
    computed = network.layers(spec)
    assert [
        (layer.name, layer.type, list(layer.output_shape), layer.parameters, layer.trainable)
        for layer in computed
    ] == [
        (row["name"], row["type"], row["output_shape"], row["parameters"], row["trainable"])
        for row in layer_table(model)
    ]
    counts = network.parameter_counts(computed)
    assert parameter_counts(model) == {
        "total": counts.total,
        "trainable": counts.trainable,
        "non_trainable": counts.non_trainable,
    }


@pytest.mark.parametrize(
    ("name", "model_name"),
    [
        ("Reseñas LSTM ñ", "Resenas_LSTM_n"),
        ("Café run", "Cafe_run"),
        ("<b>bold", "b_bold"),
        ("日本語のレビュー", "model"),
        ("-leading dash", "model_-leading_dash"),
        ("lstm-128", "lstm-128"),
    ],
)
def test_any_job_name_gives_a_model_tensorflow_accepts(name, model_name):
    # TensorFlow's scope names are ASCII; the job keeps the name as written.
    spec = TrainingSpec.model_validate(SMALL | {"name": name, "architecture": "gru", "units": 2})
    model = compile_model(build_model(spec, 500), spec)
    assert model.name == model_name
    model.fit(np.ones((4, 12), dtype="int32"), np.ones(4), epochs=1, verbose=0)  # trains
