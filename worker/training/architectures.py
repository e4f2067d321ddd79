"""Keras models for a training spec.

- ``dense``: Embedding, Flatten (or, with ``pooling``, the average over the tokens
  with the padding masked, or their maximum), the hidden Dense layers, the output.
  ``sequence.binary`` puts ``UniqueTokens`` before the Embedding (each token once per
  review); ``sequence.nb_weights`` makes it a ``NaiveBayesEmbedding`` (each token's
  vector times its fixed NB log-count ratio, ``worker/training/nb.py``).
- ``simple_rnn`` / ``lstm`` / ``gru``: Embedding, ``recurrent_layers`` stacked
  recurrent layers of ``units`` (optionally Bidirectional), the hidden Dense
  layers, the output.

The output is one sigmoid unit: P(positive). ``dropout`` is a Dropout layer
after Flatten (or the pooling) and after each hidden Dense layer; in recurrent layers it is the
layer's input dropout, and ``recurrent_dropout`` its recurrent-state dropout.
L1/L2 penalties apply to the kernel of every Dense and recurrent layer (the
output included; the embedding is left alone).
"""

import re
import unicodedata
from typing import Any

import keras
import numpy as np

from app.specs.spec import Architecture, OptimizerName, Pooling, TrainingSpec

RECURRENT_LAYERS: dict[Architecture, type[keras.layers.Layer]] = {
    Architecture.simple_rnn: keras.layers.SimpleRNN,
    Architecture.lstm: keras.layers.LSTM,
    Architecture.gru: keras.layers.GRU,
}


def build_model(
    spec: TrainingSpec,
    vocabulary_size: int,
    embedding_matrix: np.ndarray | None = None,
    nb_ratios: np.ndarray | None = None,
) -> keras.Model:
    """The uncompiled model for ``spec``; ``embedding_matrix`` seeds the Embedding layer,
    ``nb_ratios`` (one per token id) are the fixed weights of ``sequence.nb_weights``.

    ``vocabulary_size`` is the vectorizer's (at most ``spec.sequence.vocab_size``).
    """
    regularizer = kernel_regularizer(spec)
    embedding_type = NaiveBayesEmbedding if spec.sequence.nb_weights else keras.layers.Embedding
    layers: list[keras.layers.Layer] = [
        keras.Input(shape=(spec.sequence.max_len,), dtype="int32", name="token_ids"),
        *([UniqueTokens(name="unique_tokens")] if spec.sequence.binary else []),
        embedding_type(
            input_dim=vocabulary_size,
            output_dim=spec.embedding.dim,
            trainable=spec.embedding.trainable,
            # The average skips the padding (Keras's max pooling cannot take a mask).
            mask_zero=spec.pooling == Pooling.average,
            name="embedding",
        ),
    ]
    if spec.architecture == Architecture.dense:
        layers.append(POOLING[spec.pooling]())
        if spec.dropout:
            layers.append(keras.layers.Dropout(spec.dropout, name="dropout"))
    else:
        layers.extend(_recurrent_stack(spec, regularizer))
    for index, units in enumerate(spec.hidden_layers, start=1):
        layers.append(
            keras.layers.Dense(
                units,
                activation=spec.hidden_activation.value,
                kernel_regularizer=regularizer,
                name=f"hidden_{index}",
            )
        )
        if spec.dropout:
            layers.append(keras.layers.Dropout(spec.dropout, name=f"hidden_{index}_dropout"))
    layers.append(
        keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=regularizer, name="output")
    )
    model = keras.Sequential(layers, name=_model_name(spec))
    embedding = model.get_layer("embedding")
    if embedding_matrix is not None:
        embedding.embeddings.assign(embedding_matrix)
    if nb_ratios is not None:
        if not isinstance(embedding, NaiveBayesEmbedding):
            raise ValueError("nb_ratios given for a spec without sequence.nb_weights")
        embedding.ratios.assign(np.asarray(nb_ratios, dtype=np.float32))
    return model


@keras.saving.register_keras_serializable(package="sentiment")
class UniqueTokens(keras.layers.Layer):
    """Each review's distinct token ids, sorted, repeats turned to padding (0): a
    binarized bag for the pooling that follows (which ignores order)."""

    def call(self, ids: Any) -> Any:
        ordered = keras.ops.sort(ids, axis=-1)
        first = keras.ops.zeros_like(ordered[:, :1], dtype="bool")  # the first is no repeat
        repeat = keras.ops.concatenate(
            [first, keras.ops.equal(ordered[:, 1:], ordered[:, :-1])], axis=-1
        )
        return keras.ops.where(repeat, keras.ops.zeros_like(ordered), ordered)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


@keras.saving.register_keras_serializable(package="sentiment")
class NaiveBayesEmbedding(keras.layers.Embedding):
    """An Embedding whose vectors are scaled by a fixed weight per token (the NB log-count
    ratio): ``ratios`` is a non-trainable weight, so it is saved, checkpointed and
    exported with the model and serving needs nothing else."""

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        self.ratios = self.add_weight(
            shape=(self.input_dim,), initializer="zeros", name="nb_ratios", trainable=False
        )

    @property
    def variable_serialization_spec(self) -> dict[Any, list[str]]:
        # Embedding saves and loads (checkpoints) only the variables named here.
        spec = dict(super().variable_serialization_spec)
        spec[None] = [*spec[None], "ratios"]
        return spec

    def call(self, inputs: Any) -> Any:
        ids = keras.ops.cast(inputs, "int32")
        vectors = super().call(ids)
        return vectors * keras.ops.expand_dims(keras.ops.take(self.ratios, ids, axis=0), -1)


@keras.saving.register_keras_serializable(package="sentiment")
class MaskedAverage(keras.layers.Layer):
    """The average of the unmasked token vectors; a review with no tokens (all padding)
    gives zeros, where Keras's GlobalAveragePooling1D would divide by zero (NaN)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, vectors: Any, mask: Any = None) -> Any:
        if mask is None:
            return keras.ops.mean(vectors, axis=1)
        weights = keras.ops.expand_dims(keras.ops.cast(mask, vectors.dtype), -1)
        total = keras.ops.sum(vectors * weights, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # one vector per review: nothing left to mask

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[2])


POOLING = {
    Pooling.flatten: lambda: keras.layers.Flatten(name="flatten"),
    Pooling.average: lambda: MaskedAverage(name="average_pooling"),
    Pooling.max: lambda: keras.layers.GlobalMaxPooling1D(name="max_pooling"),
}


def _recurrent_stack(
    spec: TrainingSpec, regularizer: keras.regularizers.Regularizer | None
) -> list[keras.layers.Layer]:
    layer_type = RECURRENT_LAYERS[spec.architecture]
    stack = []
    for index in range(1, spec.recurrent_layers + 1):
        layer = layer_type(
            spec.units,
            dropout=spec.dropout,
            recurrent_dropout=spec.recurrent_dropout,
            kernel_regularizer=regularizer,
            return_sequences=index < spec.recurrent_layers,
            name=f"{spec.architecture.value}_{index}",
        )
        if spec.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{index}")
        stack.append(layer)
    return stack


def kernel_regularizer(spec: TrainingSpec) -> keras.regularizers.Regularizer | None:
    l1, l2 = spec.regularization.l1, spec.regularization.l2
    if not l1 and not l2:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


def make_optimizer(spec: TrainingSpec) -> keras.optimizers.Optimizer:
    settings = spec.optimizer
    rate = settings.learning_rate
    if settings.name == OptimizerName.sgd:
        return keras.optimizers.SGD(learning_rate=rate, momentum=settings.momentum)
    if settings.name == OptimizerName.adagrad:
        return keras.optimizers.Adagrad(learning_rate=rate)
    if settings.name == OptimizerName.rmsprop:
        return keras.optimizers.RMSprop(learning_rate=rate)
    return keras.optimizers.Adam(learning_rate=rate)


def compile_model(model: keras.Model, spec: TrainingSpec) -> keras.Model:
    model.compile(
        optimizer=make_optimizer(spec),
        loss=spec.loss.value,
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """Total, trainable and non-trainable parameters, as ``model.summary()`` shows them."""
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    non_trainable = sum(int(np.prod(weight.shape)) for weight in model.non_trainable_weights)
    return {
        "total": trainable + non_trainable,
        "trainable": trainable,
        "non_trainable": non_trainable,
    }


def _model_name(spec: TrainingSpec) -> str:
    """A name TensorFlow accepts for the model's scope (ASCII letters, digits, '.', '_',
    '-', starting with a letter, digit or '.'), derived from the job's name in any
    script: accents dropped (Reseñas -> Resenas), anything else an underscore. The job
    keeps the name as the user wrote it."""
    ascii_name = unicodedata.normalize("NFKD", spec.name).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("_")
    if not safe or not re.match(r"[A-Za-z0-9.]", safe):
        safe = f"model_{safe}".rstrip("_")
    return safe[:64]


def layer_table(model: keras.Model) -> list[dict[str, Any]]:
    """Each layer as ``model.summary()`` lists it: name, type, output shape, parameters."""
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": [None if size is None else int(size) for size in shape],
                "parameters": int(layer.count_params()),
                "trainable": bool(layer.trainable),
            }
        )
    return rows
