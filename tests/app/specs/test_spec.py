import pytest
from pydantic import ValidationError

from app.specs.spec import Architecture, OptimizerName, TrainingSpec


def errors_of(**fields):
    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate(fields)
    return caught.value.errors()


def test_defaults_are_the_course_lstm():
    spec = TrainingSpec()
    assert spec.architecture == Architecture.lstm
    assert spec.units == 128
    assert spec.embedding.dim == 100
    assert spec.embedding.pretrained == "imdb-word2vec"
    assert spec.embedding.trainable is False
    assert spec.sequence.max_len == 100
    assert spec.optimizer.name == OptimizerName.adam
    assert spec.optimizer.learning_rate == 0.001
    assert (spec.epochs, spec.batch_size, spec.validation_split) == (6, 128, 0.2)


@pytest.mark.parametrize(
    ("fields", "location", "received", "bound"),
    [
        ({"epochs": 0}, ("epochs",), 0, "greater than or equal to 1"),
        ({"epochs": 10_000}, ("epochs",), 10_000, "less than or equal to 200"),
        ({"units": 5000}, ("units",), 5000, "less than or equal to 1024"),
        ({"dropout": 1.0}, ("dropout",), 1.0, "less than 1"),
        ({"batch_size": -3}, ("batch_size",), -3, "greater than or equal to 1"),
        (
            {"sequence": {"vocab_size": 5}},
            ("sequence", "vocab_size"),
            5,
            "greater than or equal to 100",
        ),
        ({"regularization": {"l2": 2}}, ("regularization", "l2"), 2, "less than 1"),
        (
            {"optimizer": {"name": "adam", "learning_rate": 0}},
            ("optimizer", "learning_rate"),
            0,
            "greater than 0",
        ),
        ({"hidden_layers": [12, 0]}, ("hidden_layers", 1), 0, "greater than or equal to 1"),
        ({"sequence": {"ngrams": 4}}, ("sequence", "ngrams"), 4, "less than or equal to 3"),
    ],
)
def test_out_of_bounds_values_name_the_field_the_bound_and_the_value(
    fields, location, received, bound
):
    [error] = errors_of(**fields)
    assert error["loc"] == location
    assert error["input"] == received
    assert bound in error["msg"]


def test_unknown_choices_and_fields_are_refused():
    assert errors_of(architecture="transformer")[0]["loc"] == ("architecture",)
    assert errors_of(optimizer={"name": "lion"})[0]["loc"] == ("optimizer", "name")
    assert errors_of(epoch=3)[0]["type"] == "extra_forbidden"


def test_nan_and_infinity_are_refused():
    assert errors_of(dropout=float("nan"))[0]["loc"] == ("dropout",)
    assert errors_of(validation_split=float("inf"))[0]["loc"] == ("validation_split",)


def test_recurrent_options_on_a_dense_network_are_refused():
    [error] = errors_of(architecture="dense", recurrent_dropout=0.2)
    assert "recurrent_dropout applies to simple_rnn, lstm and gru" in error["msg"]
    assert "0.2" in error["msg"]


def test_a_vectors_name_cannot_be_a_path():
    [error] = errors_of(embedding={"pretrained": "../../etc/passwd"})
    assert error["loc"] == ("embedding", "pretrained")
    assert "no folders" in error["msg"]
    assert TrainingSpec.model_validate({"embedding": {"pretrained": "glove.6B.100d.txt"}})


@pytest.mark.parametrize(("name", "rate"), [("sgd", 0.01), ("adagrad", 0.001), ("rmsprop", 0.001)])
def test_a_missing_learning_rate_takes_the_optimizers_default(name, rate):
    assert (
        TrainingSpec.model_validate({"optimizer": {"name": name}}).optimizer.learning_rate == rate
    )
