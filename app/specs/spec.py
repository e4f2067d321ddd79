"""The job specs: what a client asks to train (``TrainingSpec``), or to ensemble
(``EnsembleSpec``).

Every field has a default, and the defaults reproduce the course's LSTM example
(frozen 100-d pretrained embeddings, 100 tokens, LSTM(128), Adam, 6 epochs,
batch 128, validation split 0.2). Every number is bounded, so an invalid spec
is refused with the field, the bound and the value received, before anything
trains. This module imports no TensorFlow: the API validates specs with it.
"""

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.core.types import DisplayName


class Architecture(StrEnum):
    dense = "dense"
    simple_rnn = "simple_rnn"
    lstm = "lstm"
    gru = "gru"


RECURRENT = frozenset({Architecture.simple_rnn, Architecture.lstm, Architecture.gru})


class Pooling(StrEnum):
    flatten = "flatten"
    average = "average"
    max = "max"


class Activation(StrEnum):
    relu = "relu"
    tanh = "tanh"
    sigmoid = "sigmoid"
    linear = "linear"


class OptimizerName(StrEnum):
    sgd = "sgd"
    adagrad = "adagrad"
    rmsprop = "rmsprop"
    adam = "adam"


class Loss(StrEnum):
    binary_crossentropy = "binary_crossentropy"
    mse = "mse"


# Keras's own default learning rates, used when a spec leaves it out.
DEFAULT_LEARNING_RATES = {
    OptimizerName.sgd: 0.01,
    OptimizerName.adagrad: 0.001,
    OptimizerName.rmsprop: 0.001,
    OptimizerName.adam: 0.001,
}

IMDB_WORD2VEC = "imdb-word2vec"
# A vectors name is a file name inside the server's vectors folder, never a path.
VECTORS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

Rate = Annotated[float, Field(strict=True, ge=0.0, lt=1.0)]


class StrictModel(BaseModel):
    """Unknown fields are errors: a typo must not silently train the default. Numbers
    and booleans are strict too (``true`` is not 1, ``"5"`` is not 5)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class EmbeddingSpec(StrictModel):
    dim: int = Field(100, strict=True, ge=2, le=1024, description="Embedding width.")
    pretrained: str | None = Field(
        IMDB_WORD2VEC,
        description=(
            "'imdb-word2vec' (vectors trained on the training and unlabelled reviews), "
            "the name of a GloVe-format file in the server's vectors folder "
            "(glove.6B.100d.txt), or null for a random start."
        ),
    )
    trainable: bool = Field(
        False, strict=True, description="Whether training updates the embeddings."
    )

    @field_validator("pretrained")
    @classmethod
    def _vectors_name(cls, value: str | None) -> str | None:
        if value is None or value == IMDB_WORD2VEC:
            return value
        if not VECTORS_NAME.match(value):
            raise ValueError(
                f"expected 'imdb-word2vec', null, or a vectors file name made of letters, "
                f"digits, '.', '_' and '-' (no folders), received {value!r}"
            )
        return value


class SequenceSpec(StrictModel):
    max_len: int = Field(
        100, strict=True, ge=2, le=2000, description="Tokens kept per review (the last ones)."
    )
    vocab_size: int = Field(
        20000,
        strict=True,
        ge=100,
        le=1_000_000,
        description="Vocabulary size, padding and unknown included (word pairs count too).",
    )
    ngrams: int = Field(
        1,
        strict=True,
        ge=1,
        le=3,
        description="1: words. 2: words, then each pair of adjacent words (a bigram) as a "
        "token of its own; 3: words, bigrams, then each run of three words (a trigram). For a "
        "dense network with pooling, a bag of n-grams. The vocabulary ranks them all together "
        "by frequency, so trigrams need a large vocab_size (several hundred thousand) to "
        "count; the last max_len tokens are kept, so a long review loses its first words "
        "before its trigrams: raise max_len with ngrams.",
    )
    binary: bool = Field(
        False,
        strict=True,
        description="Count each token once per review (the binarized bag of words of "
        "NBSVM): a review's repeated tokens are masked inside the network. Dense networks "
        "with average or max pooling only (it reorders the tokens). Meant for a bag of "
        "n-grams, so that a word a review repeats does not outweigh the rest of it.",
    )
    nb_weights: bool = Field(
        False,
        strict=True,
        description="Naive-Bayes weights (Wang and Manning 2012): each token's embedding is "
        "multiplied by the token's fixed log-count ratio r = log((p/|p|)/(q/|q|)), where p "
        "and q count the positive and negative reviews the network fits on (never the "
        "validation or test reviews) that hold the token, plus 1. Words that mark a class "
        "weigh more from the first step; words found equally in both weigh nothing. Dense "
        "networks only; the embedding must be learned (pretrained null, trainable true). "
        "On a binarized bag of trigrams (the best recipe) it raised test accuracy from "
        "0.914 to 0.922 after 6 epochs, and most in the first epochs (0.878 to 0.898 "
        "after one): docs/diagnosis.md.",
    )
    min_movies: int = Field(
        1,
        strict=True,
        ge=1,
        le=100,
        description="With nb_weights: a token weighs nothing unless the reviews the network "
        "fits on hold it in at least this many movies. The test set's movies are not the "
        "training set's, so a name or plot word of one movie only teaches that movie's "
        "verdict. Movies are told apart by review id: the dataset's ids run movie by movie, "
        "at most 30 reviews a movie, so each run of 30 ids of a class counts as one. 1 keeps "
        "every token.",
    )

    @model_validator(mode="after")
    def _min_movies_weighs_nb(self) -> Self:
        if self.min_movies > 1 and not self.nb_weights:
            raise ValueError(
                f"sequence.min_movies sets tokens' Naive-Bayes weights to 0, so it needs "
                f"nb_weights true; received min_movies {self.min_movies} with nb_weights false"
            )
        return self


class OptimizerSpec(StrictModel):
    name: OptimizerName = OptimizerName.adam
    learning_rate: float | None = Field(
        None,
        strict=True,
        gt=0.0,
        lt=1.0,
        description="Null takes Keras's default for the optimizer.",
    )
    momentum: Rate = Field(0.9, description="Used by sgd only.")

    @model_validator(mode="after")
    def _default_learning_rate(self) -> Self:
        if self.learning_rate is None:
            self.learning_rate = DEFAULT_LEARNING_RATES[self.name]
        return self


class RegularizationSpec(StrictModel):
    l1: Rate = Field(0.0, description="L1 penalty on every Dense and recurrent kernel.")
    l2: Rate = Field(0.0, description="L2 penalty on every Dense and recurrent kernel.")


class EarlyStoppingSpec(StrictModel):
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    patience: int = Field(2, strict=True, ge=1, le=50)
    restore_best_weights: bool = Field(True, strict=True)


class TrainingSpec(StrictModel):
    name: DisplayName = Field(
        "lstm-128",
        min_length=1,
        max_length=100,
        description="A name for people, in any script (no invisible characters).",
    )
    architecture: Architecture = Architecture.lstm
    units: int = Field(
        128, strict=True, ge=1, le=1024, description="Units of each recurrent layer."
    )
    recurrent_layers: int = Field(1, strict=True, ge=1, le=4)
    bidirectional: bool = Field(False, strict=True)
    hidden_layers: list[Annotated[int, Field(strict=True, ge=1, le=4096)]] = Field(
        default_factory=list,
        max_length=8,
        description="Units of the Dense layers between the embedding (or RNN) and the output.",
    )
    hidden_activation: Activation = Activation.relu
    pooling: Pooling = Field(
        Pooling.flatten,
        description="dense only: flatten keeps word order; average (padding masked) and max "
        "pool over the tokens: a bag of words that ignores order.",
    )
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    sequence: SequenceSpec = Field(default_factory=SequenceSpec)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    loss: Loss = Loss.binary_crossentropy
    dropout: Rate = 0.0
    recurrent_dropout: Rate = 0.0
    regularization: RegularizationSpec = Field(default_factory=RegularizationSpec)
    epochs: int = Field(6, strict=True, ge=1, le=200)
    batch_size: int = Field(128, strict=True, ge=1, le=4096)
    validation_split: float = Field(0.2, strict=True, ge=0.05, le=0.5)
    validation_holds_out: Literal["reviews", "movies"] = Field(
        "reviews",
        description="reviews: validation_split of the training reviews, drawn one by one. "
        "movies: from each class, whole blocks of 100 consecutive review ids (a few movies "
        "each: the ids run movie by movie) until validation_split is reached, as the test set "
        "holds out its movies. A random split puts one movie's reviews on both sides and "
        "rewards memorizing its names; blocks keep most of a movie's reviews of one class "
        "together, though its reviews of the other class may still be fitted on: "
        "docs/diagnosis.md.",
    )
    early_stopping: EarlyStoppingSpec | None = None
    seed: int = Field(42, strict=True, ge=0, le=2**31 - 1)
    train_size: int | None = Field(
        None,
        strict=True,
        ge=20,
        le=25_000,
        description="Train on a random slice of this many reviews.",
    )
    test_size: int | None = Field(
        None, strict=True, ge=10, le=25_000, description="Evaluate on a slice; null is all 25,000."
    )

    @model_validator(mode="after")
    def _fields_fit_the_architecture(self) -> Self:
        if self.architecture not in RECURRENT:
            for field, value, default in (
                ("recurrent_layers", self.recurrent_layers, 1),
                ("recurrent_dropout", self.recurrent_dropout, 0.0),
                ("bidirectional", self.bidirectional, False),
            ):
                if value != default:
                    raise ValueError(
                        f"{field} applies to simple_rnn, lstm and gru; received {value!r} "
                        f"with architecture 'dense' (leave it at {default!r})"
                    )
            if self.sequence.binary and self.pooling == Pooling.flatten:
                raise ValueError(
                    "sequence.binary needs pooling 'average' or 'max' (it reorders the tokens, "
                    "which flatten would read in order); received pooling 'flatten'"
                )
            if self.sequence.nb_weights and (
                self.embedding.pretrained is not None or not self.embedding.trainable
            ):
                raise ValueError(
                    "sequence.nb_weights scales a learned embedding: set embedding.pretrained "
                    "to null and embedding.trainable to true"
                )
        elif self.sequence.binary or self.sequence.nb_weights:
            option = "binary" if self.sequence.binary else "nb_weights"
            raise ValueError(
                f"sequence.{option} applies to dense networks (a bag of tokens); received it "
                f"with architecture {self.architecture.value!r}"
            )
        elif self.pooling != Pooling.flatten:
            raise ValueError(
                f"pooling applies to dense; received {self.pooling.value!r} with architecture "
                f"{self.architecture.value!r} (a recurrent layer ends on one vector already; "
                "leave it at 'flatten')"
            )
        return self


MAX_ENSEMBLE_MEMBERS = 8  # each member is a whole model run per text: bounded like any cost
EnsembleMembers = Annotated[
    list[Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]],
    Field(min_length=2, max_length=MAX_ENSEMBLE_MEMBERS),
]
# A weight as a client gives it; bounded so that scaled to sum to 1, none is ever 0.
Weight = Annotated[float, Field(strict=True, ge=1e-6, le=1e6)]


class EnsembleSpec(StrictModel):
    """A job that averages registered versions' probabilities instead of training:
    its model scores ``sum(weight_i * P_i(positive))`` with the weights summing to 1.
    The worker loads the members, evaluates the average on the whole test set and
    registers it as a version of its own. Stored as a job's spec (``kind`` tells the
    two kinds apart)."""

    kind: Literal["ensemble"] = "ensemble"
    name: DisplayName = Field(
        min_length=1,
        max_length=100,
        description="A name for people, in any script (no invisible characters).",
    )
    members: EnsembleMembers = Field(description="The member versions, at least two distinct ones.")
    weights: list[Annotated[float, Field(strict=True, gt=0.0, le=1.0)]] = Field(
        description="One positive weight per member, in the same order, summing to 1."
    )

    @model_validator(mode="after")
    def _members_and_weights_agree(self) -> Self:
        ensemble_rule(self.members, self.weights)
        if abs(sum(self.weights) - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1; received {self.weights}")
        return self

    @classmethod
    def of(cls, name: str, members: list[int], weights: list[float] | None) -> "EnsembleSpec":
        """The spec for these members, their weights (None: equal) scaled to sum to 1."""
        chosen = weights if weights is not None else [1.0] * len(members)
        return cls(name=name, members=members, weights=[w / sum(chosen) for w in chosen])


def ensemble_rule(members: list[int], weights: list[float] | None) -> None:
    """Distinct members and one weight each (None: equal); raises ValueError."""
    if len(set(members)) != len(members):
        raise ValueError(f"members must be distinct versions; received {members}")
    if weights is not None and len(weights) != len(members):
        raise ValueError(
            f"expected one weight per member ({len(members)}) or 'equal'; "
            f"received {len(weights)} weights"
        )


def job_spec(stored: dict[str, Any]) -> "TrainingSpec | EnsembleSpec":
    """A job's stored spec as what it asks for: an ensemble, or (by default) training."""
    if stored.get("kind") == "ensemble":
        return EnsembleSpec.model_validate(stored)
    return TrainingSpec.model_validate(stored)
