"""A bag of tokens served from each review's own token ids (``Bag``), and its logit
split exactly between them (``Bag.contributions``, the ``explain`` signature's for bags).

A bag is a dense network that averages its token vectors (``is_bag``): the order of
its tokens does not matter to it, so it needs no fixed-length, padded row.
"""

import keras
import numpy as np
import tensorflow as tf

from app.specs.spec import Architecture, Pooling, TrainingSpec
from worker.training.architectures import NaiveBayesEmbedding


def is_bag(spec: TrainingSpec) -> bool:
    """A dense network that averages its token vectors: the order of the tokens does
    not matter to it, so it needs no fixed-length, padded (or sorted) row."""
    return spec.architecture == Architecture.dense and spec.pooling == Pooling.average


class Bag(tf.Module):
    """A bag's probability from each review's own token ids, the same as the Keras model
    on the padded row within float rounding: the row's last ``max_len`` ids (each once
    for ``sequence.binary``), their vectors (times their NB ratios) averaged, then the
    layers after the pooling. Training pads every review to ``max_len`` and sorts each
    row to find its repeats; this pads nothing and finds repeats with one sparse count.

    With nothing between the pooling and the output layer but dropout (inactive when
    serving), the output's logit is the average of each token's own logit (its vector
    dotted with the output's weights): one number per token, computed once here."""

    def __init__(self, model: keras.Model, spec: TrainingSpec) -> None:
        super().__init__(name="bag")
        self.embedding = model.get_layer("embedding")
        pooling = model.layers.index(model.get_layer("average_pooling"))
        self.after_pooling = model.layers[pooling + 1 :]  # dropout, hidden, output
        self.max_len, self.binary = spec.sequence.max_len, spec.sequence.binary
        self.vocabulary_size = int(self.embedding.input_dim)
        self.token_logits: tf.Variable | None = None
        output = model.get_layer("output")
        if all(
            isinstance(layer, keras.layers.Dropout) or layer is output
            for layer in self.after_pooling
        ):
            vectors = np.asarray(self.embedding.embeddings)
            if isinstance(self.embedding, NaiveBayesEmbedding):
                vectors = vectors * np.asarray(self.embedding.ratios)[:, None]
            logits = vectors @ np.asarray(output.kernel)[:, 0]
            self.token_logits = tf.Variable(logits.astype(np.float32), trainable=False)
            self.bias, self.activation = tf.constant(np.asarray(output.bias)), output.activation

    def __call__(self, token_ids: tf.RaggedTensor) -> tf.Tensor:
        kept = token_ids[:, -self.max_len :]
        if self.binary:  # each (review, token) once
            seen = tf.sparse.bincount(
                kept, minlength=self.vocabulary_size, binary_output=True, axis=-1
            )
            rows, tokens = seen.indices[:, 0], seen.indices[:, 1]
        else:
            rows, tokens = kept.value_rowids(), kept.flat_values
        reviews = kept.nrows()
        count = tf.math.unsorted_segment_sum(tf.ones_like(rows, tf.float32), rows, reviews)
        count = tf.maximum(count, 1.0)  # no tokens: zeros, as in training
        if self.token_logits is not None:
            total = tf.math.unsorted_segment_sum(
                tf.gather(self.token_logits, tokens), rows, reviews
            )
            return self.activation(total / count + self.bias)
        vectors = tf.gather(self.embedding.embeddings, tokens)
        if isinstance(self.embedding, NaiveBayesEmbedding):
            vectors *= tf.gather(self.embedding.ratios, tokens)[:, None]
        pooled = tf.math.unsorted_segment_sum(vectors, rows, reviews) / count[:, None]
        for layer in self.after_pooling:
            pooled = layer(pooled, training=False)
        return pooled

    @property
    def additive(self) -> bool:
        """Whether its logit is the bias plus the average of its tokens' own logits
        (nothing but dropout between the pooling and the output), so that each token's
        share of it is exact (``contributions``)."""
        return self.token_logits is not None

    def contributions(
        self, token_ids: tf.RaggedTensor
    ) -> tuple[tf.RaggedTensor, tf.Tensor, tf.Tensor]:
        """Each of the row's last ``max_len`` ids' share of the logit, the bias, and the
        logit: the bias plus the row's shares, as ``__call__`` sums them.

        A token counts once in a binary bag, so its occurrences share its logit equally;
        the shares are divided by the row's token count as the average divides them."""
        assert self.token_logits is not None, "contributions need an additive bag"
        kept = token_ids[:, -self.max_len :]
        rows, tokens = kept.value_rowids(), kept.flat_values
        if self.binary:
            _, first, counts = tf.unique_with_counts(rows * self.vocabulary_size + tokens)
            share = 1.0 / tf.cast(tf.gather(counts, first), tf.float32)
        else:
            share = tf.ones_like(tokens, tf.float32)
        count = tf.math.unsorted_segment_sum(share, rows, kept.nrows())
        count = tf.maximum(count, 1.0)
        logits = tf.gather(self.token_logits, tokens) * share / tf.gather(count, rows)
        bias = tf.fill([kept.nrows()], tf.reshape(self.bias, []))
        shares = kept.with_flat_values(logits)
        return shares, bias, bias + tf.reduce_sum(shares, axis=1)
