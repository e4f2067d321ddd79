"""Why a score: each token's contribution to it, computed inside the SavedModel.

The ``explain`` signature (``artifact.EXPLAIN_SIGNATURE``) takes raw texts like
``serving_default`` and answers, for each text, every token the model scored (a word,
or a pair or triple of words with ``sequence.ngrams``): its words, its first word's
index, its width in words and its contribution, beside the base value they add up from:

    base_value + sum(contributions) = logit = log(p / (1 - p))

for the probability ``p`` the service answers (all three on the calibrated scale: the
model's logit divided by its temperature). A review longer than ``sequence.max_len``
tokens is scored on its last ones, and only those are explained.

- A bag whose pooling feeds the output layer directly: exact (``Bag.contributions``).
  Its logit is the bias plus the average of its tokens' own logits, so the base value
  is the bias, an empty review's logit.
- Every other network (hidden layers, flatten or max pooling, recurrent layers):
  integrated gradients (Sundararajan, Taly and Yan 2017) of the logit with respect to
  the token vectors, along the straight path from the baseline where every token's
  vector is the padding token's, by the midpoint rule in ``steps`` steps. The base value
  is the baseline's logit; the contributions add up to the logit less the base value
  within the rule's error, which shrinks as the steps grow.
"""

from itertools import islice
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from app.jobs.progress import Phase
from app.registry import artifact
from app.specs.spec import TrainingSpec
from worker.training.architectures import MaskedAverage
from worker.training.bag import Bag, is_bag
from worker.training.text import PadSequencesPre, standardize
from worker.training.tracker import Tracker

STEPS = 64  # integrated gradients' default steps (``SENTIMENT_EXPLAIN_STEPS``)
EXACT = "exact"
INTEGRATED_GRADIENTS = "integrated_gradients"
# The test reviews a job's drivers are found on (``drivers``): evenly spaced over the
# test split; fewer, in fewer steps, where each costs integrated gradients.
DRIVER_REVIEWS = {EXACT: 2000, INTEGRATED_GRADIENTS: 64}
DRIVER_STEPS = 32
DRIVERS_SHOWN = 15  # on each side


def explainer_for(
    model: keras.Model, spec: TrainingSpec, steps: int
) -> "Bag | IntegratedGradients":
    """Exact for a bag whose pooling feeds its output; integrated gradients otherwise."""
    bag = Bag(model, spec) if is_bag(spec) else None
    return bag if bag is not None and bag.additive else IntegratedGradients(model, spec, steps)


class IntegratedGradients(tf.Module):
    """Integrated gradients of a Keras model's logit over its token vectors, from the
    padded rows the model takes (``PadSequencesPre``), back on each row's own tokens."""

    def __init__(self, model: keras.Model, spec: TrainingSpec, steps: int) -> None:
        super().__init__(name="integrated_gradients")
        self.embedding = model.get_layer("embedding")
        self.output_layer = model.get_layer("output")
        first = model.layers.index(self.embedding) + 1
        self.between = model.layers[first : model.layers.index(self.output_layer)]
        self.unique = model.get_layer("unique_tokens") if spec.sequence.binary else None
        self.pad = PadSequencesPre(spec.sequence.max_len)
        self.max_len, self.steps = spec.sequence.max_len, steps

    def logit(self, vectors: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
        """The model's logit from its token vectors (the output layer before its sigmoid)."""
        hidden = vectors
        for layer in self.between:
            if isinstance(layer, MaskedAverage):
                hidden = layer(hidden, mask=mask)
            else:
                hidden = layer(hidden, training=False)
        return tf.reshape(hidden @ self.output_layer.kernel + self.output_layer.bias, [-1])

    def contributions(
        self, token_ids: tf.RaggedTensor
    ) -> tuple[tf.RaggedTensor, tf.Tensor, tf.Tensor]:
        """Each of the row's last ``max_len`` ids' contribution, the baseline's logit and
        the row's own."""
        kept = token_ids[:, -self.max_len :]
        ids = tf.cast(self.pad(kept), tf.int32)
        slots = self.unique(ids) if self.unique is not None else ids
        vectors = self.embedding(slots)
        baseline = self.embedding(tf.zeros_like(slots))
        mask = tf.not_equal(slots, 0) if self.embedding.mask_zero else None
        difference = vectors - baseline
        gradients = tf.zeros_like(vectors)
        for step in tf.range(self.steps):
            alpha = (tf.cast(step, tf.float32) + 0.5) / self.steps
            with tf.GradientTape() as tape:
                point = baseline + alpha * difference
                tape.watch(point)
                logits = self.logit(point, mask)
            gradients += tape.gradient(logits, point)
        by_slot = tf.reduce_sum(difference * gradients, axis=-1) / self.steps
        by_token = self._on_tokens(kept, ids, by_slot)
        return by_token, self.logit(baseline, mask), self.logit(vectors, mask)

    def _on_tokens(self, kept: tf.RaggedTensor, ids: tf.Tensor, by_slot: tf.Tensor) -> Any:
        """The slots' attributions back on the row's tokens. The padded row holds the
        tokens at its end; a binary bag's holds each distinct id once, in sorted order
        (``UniqueTokens``), and its occurrences share its attribution equally."""
        tokens = tf.cast(kept.to_tensor(0), tf.int32)
        if self.unique is not None:
            ordered = tf.sort(ids, axis=-1)
            first = tf.searchsorted(ordered, tokens, side="left")
            last = tf.searchsorted(ordered, tokens, side="right")
            shares = tf.cast(tf.maximum(last - first, 1), tf.float32)
            values = tf.gather(by_slot, tf.minimum(first, self.max_len - 1), batch_dims=1)
            values /= shares
        else:
            lengths = kept.row_lengths()
            offset = tf.cast(self.max_len - lengths, tf.int32)[:, None]
            slot = offset + tf.range(tf.shape(tokens)[1])[None, :]
            values = tf.gather(by_slot, tf.minimum(slot, self.max_len - 1), batch_dims=1)
        return tf.RaggedTensor.from_tensor(values, lengths=kept.row_lengths())


def token_positions(words: tf.RaggedTensor, ngrams: int) -> tuple[tf.RaggedTensor, ...]:
    """For each token id of a row (its words, then its pairs, then its triples, as the
    vectorizer gives them): its first word's index and its width in words."""
    lengths = words.row_lengths()
    starts, widths = [], []
    for width in range(1, ngrams + 1):
        first = tf.ragged.range(tf.maximum(lengths - (width - 1), 0))
        starts.append(first)
        widths.append(first * 0 + width)
    if ngrams == 1:
        return starts[0], widths[0]
    return tf.concat(starts, axis=1), tf.concat(widths, axis=1)


def token_texts(
    words: tf.RaggedTensor, starts: tf.RaggedTensor, widths: tf.RaggedTensor, ngrams: int
) -> tf.RaggedTensor:
    """Each token's words, joined by a space as the vocabulary writes n-grams."""
    flat = words.flat_values
    index = starts.flat_values + tf.gather(words.row_starts(), starts.value_rowids())
    texts = tf.gather(flat, index)
    last = tf.maximum(tf.size(flat, tf.int64) - 1, 0)
    for offset in range(1, ngrams):
        following = tf.gather(flat, tf.minimum(index + offset, last))
        texts = tf.where(widths.flat_values > offset, texts + " " + following, texts)
    return starts.with_flat_values(texts)


def explain_function(
    token_ids: Any,
    explainer: Bag | IntegratedGradients,
    spec: TrainingSpec,
    temperature: float,
) -> tf.types.experimental.GenericFunction:
    """The ``explain`` signature: texts in; for each, its tokens (padded to the longest
    row: "" and -1 after the row's end), contributions, base value, logit, probability,
    its word count and the method (see the module's docstring)."""
    method = EXACT if isinstance(explainer, Bag) else INTEGRATED_GRADIENTS
    ngrams, max_len = spec.sequence.ngrams, spec.sequence.max_len

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=artifact.INPUT)])
    def explain(text: tf.Tensor) -> dict[str, tf.Tensor]:
        words = tf.strings.split(standardize(text))
        starts, widths = (part[:, -max_len:] for part in token_positions(words, ngrams))
        contributions, base, logit = explainer.contributions(token_ids(text))
        contributions, base, logit = (
            contributions / temperature,
            base / temperature,
            logit / temperature,
        )
        return {
            "tokens": token_texts(words, starts, widths, ngrams).to_tensor(""),
            "starts": tf.cast(starts.to_tensor(-1), tf.int32),
            "widths": tf.cast(widths.to_tensor(0), tf.int32),
            "contributions": contributions.to_tensor(0.0),
            "base_value": base,
            "logit": logit,
            "probability": tf.sigmoid(logit),
            "word_count": tf.cast(words.row_lengths(), tf.int32),
            "method": tf.fill(tf.shape(text), method),
        }

    explain(tf.constant(["", "a"]))  # traces it, as export requires
    return explain


class DriverExplainer:
    """The explainer :func:`drivers` runs, its contributions traced into a graph once, as
    the exported signature runs them: eagerly, a recurrent network's steps each cost
    Python, and its drivers took longer than its training. A job builds it in its
    building phase: tracing takes a second or more, with nothing to count."""

    def __init__(self, model: keras.Model, spec: TrainingSpec, steps: int) -> None:
        explainer = explainer_for(model, spec, min(steps, DRIVER_STEPS))
        self.method = EXACT if isinstance(explainer, Bag) else INTEGRATED_GRADIENTS
        self.contributions = tf.function(
            explainer.contributions,
            input_signature=[tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1)],
        ).get_concrete_function()


def drivers(
    explainer: DriverExplainer,
    x_test: np.ndarray,
    vocabulary: list[str],
    temperature: float,
    tracker: Tracker | None = None,
) -> dict[str, Any]:
    """The tokens that drive the model most over the test split: each token's
    contributions summed over a sample of the test reviews (their padded ids, as the
    pipeline holds them), the ``DRIVERS_SHOWN`` most positive and most negative, each
    with the reviews it occurs in and its mean contribution there."""
    tracker = tracker or Tracker()
    method = explainer.method
    count = min(DRIVER_REVIEWS[method], len(x_test))
    rows = np.linspace(0, len(x_test) - 1, count).round().astype(int)
    tracker.start(Phase.explaining, int(count), "reviews")
    size = len(vocabulary) + len(artifact.RESERVED_TOKENS)
    total, reviews = np.zeros(size), np.zeros(size)
    for start in range(0, count, 32):
        ids = tf.constant(x_test[rows[start : start + 32]], tf.int64)  # as the text's ids
        kept = tf.ragged.boolean_mask(ids, ids != 0)  # the padding taken off
        contributions, _, _ = explainer.contributions(kept)
        for row_ids, row_shares in zip(kept.numpy(), contributions.numpy(), strict=True):
            np.add.at(total, row_ids, row_shares / temperature)
            reviews[np.unique(row_ids)] += 1
        tracker.advance(min(start + 32, count))  # and a stop point
    tokens = [*artifact.RESERVED_TOKENS, *vocabulary]
    order = np.argsort(total)

    def listed(ids: np.ndarray, sign: int) -> list[dict[str, Any]]:
        found = (i for i in ids if reviews[i] > 0 and sign * total[i] > 0)
        return [
            {"token": tokens[i], "total": round(float(total[i]), 4), "reviews": int(reviews[i]),
             "mean": round(float(total[i] / reviews[i]), 4)}
            for i in islice(found, DRIVERS_SHOWN)
        ]  # fmt: skip

    return {
        "method": method,
        "reviews": int(count),
        "positive": listed(order[::-1], 1),
        "negative": listed(order, -1),
    }
