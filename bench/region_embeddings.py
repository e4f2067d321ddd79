"""Region embeddings learned on the unlabelled reviews: do they add to `best` on movies
the network never saw?

A question for issue 26's 0.930, answered on validation only (the test set is never
read). Johnson and Zhang (2015) learn, from unlabelled text, an embedding of each small
region of a review (its bag of REGION words) by asking it to predict the words around
it ("two-view" embedding); pooled over a review, the regions' vectors carry what the
unlabelled reviews say about its words in context. Here, at a size two cores train in a
few minutes:

1. `best`, trained on the training reviews less held-out blocks of movies (the
   benchmark's second split: blocks of 100 ids per class, 20%), and its calibrated
   probabilities on those held-out reviews: the baseline, in the same run.
2. A region embedding (DIM wide, a ReLU over the sum of its words' vectors) trained
   PASSES passes over REGIONS_PER_REVIEW random regions of each unlabelled review and
   fit review (never a held-out or test review): each region scores the words of the
   REGION words before and after it against NEGATIVES words drawn from the word counts.
3. Each labelled review's regions, mean- and max-pooled, into a logistic regression
   fitted on the fit reviews; its probabilities on the held-out ones.
4. The average of the two, `best`'s weight chosen on one half of the held-out reviews
   and scored on the other, both ways.

    python -m bench.region_embeddings [--passes 3]

Prints the accuracies beside `best`'s; docs/benchmarks.md ("Toward 0.930") holds a run.
"""

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from app.core.settings import Settings
from app.specs.recipes import RECIPES
from bench.best_recipe import SELECT_VALIDATION
from worker.training.data import load_imdb
from worker.training.evaluation import calibrated, predict
from worker.training.pipeline import split_rows, train
from worker.training.text import load_vectorized, tokenize

REGION = 5  # words in a region, and in each view around it
DIM = 128
VOCABULARY = 30_000  # words, from the unlabelled and fit reviews
FREQUENT = 50  # the most frequent words (and padding, unknown): never a target
MAX_WORDS = 400  # the last words of each review
REGIONS_PER_REVIEW = 32  # drawn afresh each pass
NEGATIVES = 10
PASSES = 3
BATCH = 1024
PAD, UNKNOWN = 0, 1
HELD_OUT = {"validation_split": SELECT_VALIDATION, "validation_holds_out": "movies"}


def baseline(settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`best` on the held-out movies split: fit rows, held-out rows, their labels and
    `best`'s calibrated probabilities for them."""
    spec = RECIPES["best"].spec.model_copy(update=HELD_OUT)
    result = train(spec, settings, score_test=False)
    data = load_vectorized(spec.sequence, settings.imdb_path, settings.cache_dir)
    fit_rows, held_rows, _ = split_rows(data, spec)
    probabilities = calibrated(predict(result.model, data.x_train[held_rows]), result.temperature)
    return fit_rows, held_rows, data.y_train[held_rows], probabilities


class RegionEmbedding(tf.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        initial = tf.random.stateless_normal([VOCABULARY, DIM], [seed, 0], stddev=0.1)
        self.words = tf.Variable(initial)
        self.bias = tf.Variable(tf.zeros([DIM]))
        self.targets = tf.Variable(tf.zeros([VOCABULARY, DIM]))
        self.target_bias = tf.Variable(tf.zeros([VOCABULARY]))
        self.optimizer = keras.optimizers.Adam(0.001)

    def regions(self, ids: tf.Tensor) -> tf.Tensor:
        """[reviews, REGION] word ids -> [reviews, DIM]: ReLU of the words' sum."""
        real = tf.cast(ids != PAD, tf.float32)[..., None]
        return tf.nn.relu(tf.reduce_sum(tf.gather(self.words, ids) * real, 1) + self.bias)

    @tf.function(reduce_retracing=True)
    def step(self, region: tf.Tensor, around: tf.Tensor, negatives: tf.Tensor) -> tf.Tensor:
        """One Adam step of the two-view loss: the words around each region scored up
        (frequent words and padding weigh nothing), the drawn negatives down."""
        variables = [self.words, self.bias, self.targets, self.target_bias]
        with tf.GradientTape() as tape:
            vectors = self.regions(region)

            def scores(ids: tf.Tensor) -> tf.Tensor:
                targets = tf.gather(self.targets, ids)
                return tf.einsum("bd,bjd->bj", vectors, targets) + tf.gather(self.target_bias, ids)

            counted = tf.cast(around >= FREQUENT + 2, tf.float32)
            loss = tf.reduce_mean(
                tf.reduce_sum(counted * tf.nn.softplus(-scores(around)), 1)
                + tf.reduce_sum(tf.nn.softplus(scores(negatives)), 1)
            )
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    @tf.function(reduce_retracing=True)
    def pooled(self, ids: tf.Tensor) -> tf.Tensor:
        """[reviews, MAX_WORDS] -> [reviews, 2 DIM]: every region's vector, mean and max."""
        vectors = tf.gather(self.words, ids) * tf.cast(ids != PAD, tf.float32)[..., None]
        running = tf.pad(tf.cumsum(vectors, axis=1), [[0, 0], [1, 0], [0, 0]])
        regions = tf.nn.relu(running[:, REGION:] - running[:, :-REGION] + self.bias)
        real = tf.cast(ids[:, REGION - 1 :] != PAD, tf.float32)[..., None]  # its last word
        mean = tf.reduce_sum(regions * real, 1) / tf.maximum(tf.reduce_sum(real, 1), 1.0)
        return tf.concat([mean, tf.reduce_max(regions * real, 1)], 1)


def word_ids(reviews: list[list[str]], index: dict[str, int]) -> np.ndarray:
    """Each review's last MAX_WORDS words as ids, padded in front."""
    rows = np.zeros((len(reviews), MAX_WORDS), dtype=np.int32)
    for row, words in enumerate(reviews):
        ids = [index.get(word, UNKNOWN) for word in words[-MAX_WORDS:]]
        rows[row, MAX_WORDS - len(ids) :] = ids
    return rows


def two_view_examples(
    ids: np.ndarray, noise: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """REGIONS_PER_REVIEW random regions of each review long enough to have both views:
    the region, the REGION words either side, and NEGATIVES drawn words; shuffled."""
    lengths = (ids != PAD).sum(1)
    reviews = np.repeat(np.flatnonzero(lengths >= 3 * REGION), REGIONS_PER_REVIEW)
    first = MAX_WORDS - lengths[reviews] + REGION
    last = MAX_WORDS - 2 * REGION
    starts = first + (rng.random(len(reviews)) * (last + 1 - first)).astype(int)
    offsets = np.arange(REGION)
    region = ids[reviews[:, None], starts[:, None] + offsets]
    before = ids[reviews[:, None], starts[:, None] - REGION + offsets]
    after = ids[reviews[:, None], starts[:, None] + REGION + offsets]
    negatives = rng.choice(VOCABULARY, size=(len(reviews), NEGATIVES), p=noise)
    order = rng.permutation(len(reviews))
    around = np.concatenate([before, after], 1)
    return region[order], around[order], negatives[order].astype(np.int32)


def logistic(
    features: np.ndarray, labels: np.ndarray, fit: np.ndarray, held: np.ndarray
) -> tuple[np.ndarray, list[float]]:
    """A logistic regression (dropout 0.3 on its inputs, L2 1e-4) on standardized
    features, 15 epochs: its held-out probabilities, and its accuracy after each epoch."""
    mean, spread = features[fit].mean(0), features[fit].std(0) + 1e-6
    x = (features - mean) / spread
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(
                1, activation="sigmoid", kernel_regularizer=keras.regularizers.l2(1e-4)
            ),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="binary_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    history = model.fit(x[fit], labels[fit], validation_data=(x[held], labels[held]),
                        epochs=15, batch_size=64, verbose=0)  # fmt: skip
    return model.predict(x[held], verbose=0)[:, 0], history.history["val_accuracy"]


def averaged_on_halves(labels: np.ndarray, best: np.ndarray, other: np.ndarray) -> float:
    """`best`'s weight (0 to 1 by 0.05) chosen on one half of the rows and scored on the
    other, both ways: the mean of the two scores."""
    halves = np.array_split(np.random.default_rng(0).permutation(len(labels)), 2)
    weights = np.linspace(0, 1, 21)

    def accuracy(weight: float, rows: np.ndarray) -> float:
        mixed = weight * best[rows] + (1 - weight) * other[rows]
        return float(np.mean((mixed > 0.5) == labels[rows]))

    scores = []
    for choose, score in ((0, 1), (1, 0)):
        weight = max(weights, key=lambda w: accuracy(w, halves[choose]))
        scores.append(accuracy(weight, halves[score]))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=PASSES, help="passes of step 2")
    passes = parser.parse_args().passes
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="region-embeddings-") as cache:
        settings = Settings().model_copy(update={"data_dir": Path(cache)})
        fit, held, held_labels, best = baseline(settings)
    corpus = load_imdb(settings.imdb_path, include_unsup=True)
    labelled = [tokenize(text) for text in corpus.train.texts]
    unlabelled = [labelled[row] for row in fit] + [tokenize(text) for text in corpus.unsup]
    counts = Counter(word for words in unlabelled for word in words)
    vocabulary = [word for word, _ in counts.most_common(VOCABULARY - 2)]
    index = {word: i + 2 for i, word in enumerate(vocabulary)}
    noise = np.array([0.0, 0.0] + [counts[word] ** 0.75 for word in vocabulary])
    noise[: FREQUENT + 2] = 0
    noise /= noise.sum()

    embedding = RegionEmbedding()
    unlabelled_ids = word_ids(unlabelled, index)
    rng = np.random.default_rng(0)
    for epoch in range(1, passes + 1):
        region, around, negatives = two_view_examples(unlabelled_ids, noise, rng)
        for start in range(0, len(region), BATCH):
            batch = slice(start, start + BATCH)
            loss = embedding.step(region[batch], around[batch], negatives[batch])
        print(f"region embedding, pass {epoch}: {len(region):,} regions, last loss "
              f"{float(loss):.3f}", flush=True)  # fmt: skip

    labelled_ids = word_ids(labelled, index)
    features = np.concatenate(
        [embedding.pooled(labelled_ids[i : i + 500]).numpy() for i in range(0, 25_000, 500)]
    )
    labels = corpus.train.labels.astype(np.float32)
    assert np.array_equal(labels[held], held_labels)
    regions, by_epoch = logistic(features, labels, fit, held)
    best_accuracy = float(np.mean((best > 0.5) == held_labels))
    alone = float(np.mean((regions > 0.5) == held_labels))
    figures = {
        "best alone": f"{best_accuracy:.4f}",
        "region features alone (logistic, 15 epochs)": f"{alone:.4f} (by epoch: "
        + ", ".join(f"{a:.4f}" for a in by_epoch)
        + ")",
        "their average, best's weight on the halves": (
            f"{averaged_on_halves(held_labels, best, regions):.4f}"
        ),
        "correlation of their probabilities": f"{np.corrcoef(best, regions)[0, 1]:.3f}",
        "minutes in all": f"{(time.perf_counter() - started) / 60:.1f}",
    }
    print(f"held-out movies ({len(held):,} reviews), {passes} passes:")
    for name, figure in figures.items():
        print(f"  {name:<45} {figure}")


if __name__ == "__main__":
    main()
