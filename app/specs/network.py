"""The network a spec builds and what training it costs, from the spec alone: no
TensorFlow, no weights, microseconds.

``layers`` lists each layer as Keras's ``model.summary()`` does (name, type, output
shape, parameters); ``worker/training/architectures.py`` builds the same network,
and a test holds the two to the same numbers. ``training_cost`` estimates what one
training step needs in memory, the rule the server admits specs by
(docs/security.md, "Admission by cost"):

    weights                4 bytes x parameters
    gradients              4 bytes x trainable parameters
    optimizer state        4 bytes x trainable parameters x slots
                           (adam 2; rmsprop, adagrad and sgd with momentum 1; sgd 0)
    activations            2 x 4 bytes x batch_size x (every layer's output per review,
                           and each recurrent layer's gates and states at every step),
                           kept forward for the backward pass

It leaves out TensorFlow's own fixed overhead, so limits keep headroom for it.
"""

import math
from dataclasses import dataclass

from app.specs.spec import Architecture, OptimizerName, Pooling, TrainingSpec

FLOAT_BYTES = 4
# Keras's recurrent layers: weight blocks per unit, and the tensors kept per step.
GATES = {Architecture.simple_rnn: 1, Architecture.lstm: 4, Architecture.gru: 3}
RECURRENT_TYPE = {Architecture.simple_rnn: "SimpleRNN", Architecture.lstm: "LSTM",
                  Architecture.gru: "GRU"}  # fmt: skip
POOLING_LAYER = {
    Pooling.flatten: ("flatten", "Flatten"),
    Pooling.average: ("average_pooling", "MaskedAverage"),
    Pooling.max: ("max_pooling", "GlobalMaxPooling1D"),
}
OPTIMIZER_SLOTS = {OptimizerName.adam: 2, OptimizerName.rmsprop: 1, OptimizerName.adagrad: 1}


@dataclass(frozen=True)
class Layer:
    name: str
    type: str
    output_shape: tuple[int | None, ...]  # None: the batch
    parameters: int
    trainable: bool
    fields: tuple[str, ...]  # the spec fields its size follows
    kept_per_review: int = 0  # floats a training step keeps per review, besides the output
    frozen: int = 0  # of its parameters, those that never train (the NB weights)

    @property
    def outputs_per_review(self) -> int:
        return math.prod(size for size in self.output_shape[1:] if size is not None)


def layers(spec: TrainingSpec, vocabulary_size: int | None = None) -> list[Layer]:
    """The layers of ``spec``'s network, in order. ``vocabulary_size`` is the embedding's
    rows (the spec's ``sequence.vocab_size`` unless the data has fewer tokens)."""
    steps, width = spec.sequence.max_len, spec.embedding.dim
    rows = vocabulary_size or spec.sequence.vocab_size
    found = []
    if spec.sequence.binary:
        found.append(Layer("unique_tokens", "UniqueTokens", (None, steps), 0, True, ()))
    if spec.sequence.nb_weights:  # the embedding plus one fixed ratio per token
        found.append(
            Layer("embedding", "NaiveBayesEmbedding", (None, steps, width), rows * width + rows,
                  spec.embedding.trainable, ("sequence.vocab_size", "embedding.dim"),
                  kept_per_review=steps, frozen=rows)  # kept: each token's ratio
        )  # fmt: skip
    else:
        found.append(
            Layer("embedding", "Embedding", (None, steps, width), rows * width,
                  spec.embedding.trainable, ("sequence.vocab_size", "embedding.dim"))
        )  # fmt: skip
    if spec.architecture == Architecture.dense:
        name, kind = POOLING_LAYER[spec.pooling]
        flat = steps * width if spec.pooling == Pooling.flatten else width
        found.append(Layer(name, kind, (None, flat), 0, True, ()))
        if spec.dropout:
            found.append(Layer("dropout", "Dropout", (None, flat), 0, True, ()))
        features = flat
        flat_fields = ("sequence.max_len", "embedding.dim") if flat > width else ("embedding.dim",)
    else:
        features = width
        for index in range(1, spec.recurrent_layers + 1):
            layer = _recurrent(spec, index, features)
            found.append(layer)
            features = layer.output_shape[-1] or 0
        flat_fields = ("units", "bidirectional")
    for index, units in enumerate(spec.hidden_layers, start=1):
        fields = (f"hidden_layers.{index - 1}", *(flat_fields if index == 1 else ()))
        found.append(
            Layer(f"hidden_{index}", "Dense", (None, units), features * units + units, True,
                  fields)
        )  # fmt: skip
        if spec.dropout:
            found.append(Layer(f"hidden_{index}_dropout", "Dropout", (None, units), 0, True, ()))
        features = units
    found.append(Layer("output", "Dense", (None, 1), features + 1, True, ()))
    return found


def _recurrent(spec: TrainingSpec, index: int, features: int) -> Layer:
    units, gates = spec.units, GATES[spec.architecture]
    per_direction = gates * (units * (features + units) + units)
    if spec.architecture == Architecture.gru:
        per_direction += gates * units  # Keras's GRU keeps a second bias (reset_after)
    directions = 2 if spec.bidirectional else 1
    last = index == spec.recurrent_layers
    steps = spec.sequence.max_len
    shape = (None, directions * units) if last else (None, steps, directions * units)
    # Backpropagation through time keeps every step's gates and state.
    kept = steps * directions * units * (gates + 1)
    fields = ("units", "recurrent_layers", "bidirectional") + (
        ("embedding.dim",) if index == 1 else ()
    )
    kind = RECURRENT_TYPE[spec.architecture]
    if spec.bidirectional:
        return Layer(f"bidirectional_{index}", "Bidirectional", shape, directions * per_direction,
                     True, fields, kept)  # fmt: skip
    return Layer(f"{spec.architecture.value}_{index}", kind, shape, per_direction, True, fields,
                 kept)  # fmt: skip


@dataclass(frozen=True)
class ParameterCounts:
    total: int
    trainable: int
    non_trainable: int


def parameter_counts(network: list[Layer]) -> ParameterCounts:
    trainable = sum(layer.parameters - layer.frozen for layer in network if layer.trainable)
    total = sum(layer.parameters for layer in network)
    return ParameterCounts(total, trainable, total - trainable)


@dataclass(frozen=True)
class TrainingCost:
    parameters: ParameterCounts
    weights_bytes: int
    optimizer_bytes: int  # gradients and optimizer state
    activations_bytes: int  # for one batch
    largest: Layer  # the layer with the most parameters
    widest: Layer  # the layer that keeps the most per review

    @property
    def memory_bytes(self) -> int:
        return self.weights_bytes + self.optimizer_bytes + self.activations_bytes


def training_cost(spec: TrainingSpec, network: list[Layer] | None = None) -> TrainingCost:
    network = network if network is not None else layers(spec)
    counts = parameter_counts(network)
    slots = OPTIMIZER_SLOTS.get(spec.optimizer.name, 0)
    if spec.optimizer.name == OptimizerName.sgd and spec.optimizer.momentum:
        slots = 1
    per_review = sum(layer.outputs_per_review + layer.kept_per_review for layer in network)
    return TrainingCost(
        parameters=counts,
        weights_bytes=FLOAT_BYTES * counts.total,
        optimizer_bytes=FLOAT_BYTES * counts.trainable * (1 + slots),
        activations_bytes=2 * FLOAT_BYTES * spec.batch_size * per_review,
        largest=max(network, key=lambda layer: layer.parameters),
        widest=max(network, key=lambda layer: layer.outputs_per_review + layer.kept_per_review),
    )
