"""One training run: spec in, trained and evaluated model out.

``train`` is what the Celery task and the command line call. The worker follows
the run through ``on_epoch`` (each finished epoch's metrics) and its ``tracker``
(the phase and the count within it, which also tells the run to stop), and
makes it resumable with ``checkpoints`` (``checkpoints.py`` says what is kept).
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from app.core.settings import Settings
from app.jobs.progress import Phase
from app.registry import store
from app.registry.artifact import token_count
from app.specs.spec import TrainingSpec
from worker.training import explain, nb
from worker.training.architectures import build_model, compile_model, parameter_counts
from worker.training.callbacks import (
    EpochCheckpoint,
    EpochMetrics,
    ResumableEarlyStopping,
    TrainingMonitor,
)
from worker.training.checkpoints import Checkpoints, Resumed
from worker.training.data import id_runs
from worker.training.diagnosis import Diagnosis, diagnose
from worker.training.embeddings import EmbeddingMatrix, build_embedding_matrix
from worker.training.evaluation import evaluate, fit_temperature, predict
from worker.training.text import VectorizedImdb, load_vectorized
from worker.training.tracker import Tracker

logger = logging.getLogger(__name__)

# A validation block holding out movies: a few movies long, so that few of the movies it
# holds have reviews of the same class on either side of its ends.
HELD_OUT_BLOCK = 100


@dataclass
class TrainingResult:
    spec: TrainingSpec
    cancelled: bool
    history: list[EpochMetrics]
    parameters: dict[str, int]
    vocabulary: list[str]
    model: keras.Model
    embedding_coverage: float | None
    timings: dict[str, float]
    test_metrics: dict[str, float] | None = None
    # The test predictions' reliability diagram (``evaluation.reliability``), the bins
    # behind ``test_metrics["ece"]``.
    reliability: list[dict[str, float]] | None = None
    diagnosis: Diagnosis | None = None
    # The tokens that drive the model most over the test split (``explain.drivers``).
    drivers: dict[str, Any] | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    # Fitted on the validation split's predictions; built into the export and the
    # test metrics (``evaluation.calibrated``).
    temperature: float = 1.0

    def manifest_metadata(self) -> dict[str, Any]:
        """What the exported model's manifest records about this run."""
        summary = self.summary()
        keys = ("test", "parameters", "diagnosis", "epochs", "embedding_coverage", "temperature")
        return {key: summary[key] for key in keys}

    def summary(self) -> dict[str, Any]:
        """Everything but the model, as JSON-ready values."""
        return {
            "name": self.spec.name,
            "cancelled": self.cancelled,
            "epochs": [vars(epoch) for epoch in self.history],
            "test": self.test_metrics,
            "reliability": self.reliability,
            "drivers": self.drivers,
            "temperature": self.temperature,
            "parameters": self.parameters,
            "diagnosis": vars(self.diagnosis) if self.diagnosis else None,
            "embedding_coverage": self.embedding_coverage,
            "vocabulary_size": token_count(self.vocabulary),
            "sizes": self.sizes,
            "timings": self.timings,
        }


@dataclass(frozen=True)
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def seed_everything(seed: int) -> None:
    """Same spec and seed, same metrics: seeded initializers, shuffles and dropout,
    and TensorFlow's deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def split_data(data: VectorizedImdb, spec: TrainingSpec) -> Splits:
    """Shuffle (seeded), take the optional slices, and split off validation.

    Keras's own ``validation_split`` takes the last rows unshuffled, which here
    would be negative reviews only, so the split is made by hand.
    """
    fit_rows, val_rows, test_rows = split_rows(data, spec)
    return Splits(
        x_train=data.x_train[fit_rows],
        y_train=data.y_train[fit_rows],
        x_val=data.x_train[val_rows],
        y_val=data.y_train[val_rows],
        x_test=data.x_test[test_rows],
        y_test=data.y_test[test_rows],
    )


def split_rows(
    data: VectorizedImdb, spec: TrainingSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The row numbers of :func:`split_data`: fit and validation rows of the training
    split (shuffled), and test rows (in order)."""
    rng = np.random.default_rng(spec.seed)
    val_rows, fit_rows = _training_rows(data.y_train, spec, rng)
    test_rows = _balanced_sample(data.y_test, spec.test_size, rng)
    return fit_rows, val_rows, np.sort(test_rows)


def held_out_rows(train_labels: np.ndarray, specs: Sequence[TrainingSpec]) -> np.ndarray:
    """The training rows that none of ``specs``' runs fits on (their validation rows,
    and the rows their slices leave out), in order: where an ensemble of their models
    can be calibrated without the test split. Empty when their splits cover it all."""
    fitted = np.zeros(len(train_labels), dtype=bool)
    for spec in specs:
        _, fit_rows = _training_rows(train_labels, spec, np.random.default_rng(spec.seed))
        fitted[fit_rows] = True
    return np.flatnonzero(~fitted)


def _training_rows(
    labels: np.ndarray, spec: TrainingSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Validation and fit rows of the training split: the first draws of the run's ``rng``.
    Holding out movies: from each class, whole blocks of ``HELD_OUT_BLOCK`` ids in a
    random order until its share is reached."""
    train_rows = _balanced_sample(labels, spec.train_size, rng)
    validation = max(1, round(len(train_rows) * spec.validation_split))
    if spec.validation_holds_out == "reviews":
        return train_rows[:validation], train_rows[validation:]
    blocks = id_runs(labels, HELD_OUT_BLOCK)[train_rows]
    held = np.zeros(len(train_rows), dtype=bool)
    for label in (0, 1):
        of_class = labels[train_rows] == label
        share = round(validation * of_class.mean())
        found, sizes = np.unique(blocks[of_class], return_counts=True)
        order = rng.permutation(len(found))
        enough = int(np.searchsorted(np.cumsum(sizes[order]), share)) + 1
        held |= np.isin(blocks, found[order[:enough]])
    return train_rows[held], train_rows[~held]


def nb_ratios(data: VectorizedImdb, spec: TrainingSpec) -> np.ndarray | None:
    """The NB log-count ratios of ``sequence.nb_weights``, from the rows the run fits on
    (not its validation rows, not the test split); None without the option."""
    if not spec.sequence.nb_weights:
        return None
    fit_rows, _, _ = split_rows(data, spec)
    size = data.vocabulary_size
    split_counts = None
    if 2 * len(fit_rows) > len(data.y_train) and data.cache_file is not None:
        split_counts = nb.load_split_counts(
            data.cache_file.with_suffix(".nb.npz"), data.x_train, data.y_train, size
        )
    ratios = nb.log_count_ratios(nb.fit_counts(data.x_train, data.y_train, fit_rows, size,
                                               split_counts))  # fmt: skip
    if spec.sequence.min_movies > 1:
        movies = nb.movie_counts(data.x_train, id_runs(data.y_train), fit_rows, size)
        ratios[movies < spec.sequence.min_movies] = 0.0
    return ratios


def _balanced_sample(labels: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Shuffled row numbers: all rows, or ``size`` rows with both classes equally drawn."""
    if size is None or size >= len(labels):
        return rng.permutation(len(labels))
    positive = rng.permutation(np.flatnonzero(labels == 1))[: (size + 1) // 2]
    negative = rng.permutation(np.flatnonzero(labels == 0))[: size // 2]
    return rng.permutation(np.concatenate([positive, negative]))


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs before ``fit``: arrays, splits, embedding, compiled model."""

    data: VectorizedImdb
    splits: Splits
    embedding: EmbeddingMatrix | None
    model: keras.Model


def prepare(spec: TrainingSpec, settings: Settings, tracker: Tracker | None = None) -> Prepared:
    """Load the data, the word vectors and the model, each step a phase of ``tracker``
    (and a stop point: :class:`TrainingStopped` is raised when the run must stop)."""
    tracker = tracker or Tracker()
    seed_everything(spec.seed)
    tracker.check()
    data = load_vectorized(spec.sequence, settings.imdb_path, settings.cache_dir, tracker=tracker)
    embedding = build_embedding_matrix(
        spec.embedding,
        data.vocabulary,
        settings.imdb_path,
        settings.cache_dir,
        settings.vectors_dir,
        tracker=tracker,
        models=store.open_store(settings),  # a bucket shares imdb-word2vec between hosts
    )
    tracker.start(Phase.building)
    model = build_model(
        spec, data.vocabulary_size, embedding.matrix if embedding else None, nb_ratios(data, spec)
    )
    compiled = compile_model(model, spec)
    tracker.check()
    return Prepared(data, split_data(data, spec), embedding, compiled)


def early_stopping(
    spec: TrainingSpec, resumed: Resumed | None = None
) -> ResumableEarlyStopping | None:
    if spec.early_stopping is None:
        return None
    return ResumableEarlyStopping(
        resumed,
        monitor=spec.early_stopping.monitor,
        patience=spec.early_stopping.patience,
        restore_best_weights=spec.early_stopping.restore_best_weights,
    )


def steps_per_epoch(splits: Splits, spec: TrainingSpec) -> int:
    return -(-len(splits.y_train) // spec.batch_size)


def epoch_batches(splits: Splits, spec: TrainingSpec, first: int, epochs: int) -> tf.data.Dataset:
    """Training batches for epochs ``first`` to ``epochs - 1`` (0-based), each epoch
    in its own order drawn from the spec's seed and the epoch's number alone, so a
    run resumed at any epoch sees the same batches as one that never stopped."""
    x, y = tf.constant(splits.x_train), tf.constant(splits.y_train)
    rows = len(splits.y_train)

    def epoch_order(epoch: tf.Tensor) -> tf.data.Dataset:
        seed = tf.stack([tf.constant(spec.seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(tf.range(rows), seed=seed)
        return tf.data.Dataset.from_tensor_slices(order).batch(spec.batch_size)

    return (
        tf.data.Dataset.range(first, epochs)
        .flat_map(epoch_order)
        .map(lambda rows: (tf.gather(x, rows), tf.gather(y, rows)))
        .prefetch(2)
    )


def fit(
    model: keras.Model,
    splits: Splits,
    spec: TrainingSpec,
    callbacks: list[keras.callbacks.Callback],
    epochs: int | None = None,
    first_epoch: int = 0,
) -> None:
    """The pipeline's ``model.fit`` call: seeded shuffled batches per epoch (see
    :func:`epoch_batches`), the held-out validation set; from ``first_epoch`` (0-based)
    when resuming."""
    epochs = epochs or spec.epochs
    model.fit(
        epoch_batches(splits, spec, first_epoch, epochs),
        epochs=epochs,
        initial_epoch=first_epoch,
        steps_per_epoch=steps_per_epoch(splits, spec),
        validation_data=(splits.x_val, splits.y_val),
        validation_batch_size=spec.batch_size,
        shuffle=False,  # epoch_batches shuffles, by seed and epoch
        callbacks=callbacks,
        verbose=0,
    )


def resume(
    checkpoints: Checkpoints | None, prepared: Prepared, spec: TrainingSpec, settings: Settings
) -> tuple[Prepared, Resumed | None]:
    """Load the newest checkpoint into the prepared model. One that cannot be read is
    dropped, and the model built again from the seed, as a run that never started."""
    if checkpoints is None:
        return prepared, None
    try:
        return prepared, checkpoints.restore(prepared.model)
    except Exception:  # a damaged checkpoint must not fail the job: start over
        logger.exception(
            "checkpoint in %s cannot be read; training from the start", checkpoints.where
        )
        checkpoints.clear()
        return prepare(spec, settings), None


def train(
    spec: TrainingSpec,
    settings: Settings,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    tracker: Tracker | None = None,
    checkpoints: Checkpoints | None = None,
    on_resume: Callable[[int], None] | None = None,
    score_test: bool = True,
) -> TrainingResult:
    """Train, test and summarize ``spec``. With ``checkpoints``, save one after each
    epoch and start after the newest one there; ``on_resume`` learns the epochs
    already behind the run (0 for a fresh start) before training begins. Without
    ``score_test`` the test split is never scored (``test_metrics`` stays None): a run
    that chooses a setting on validation must not see the test figures."""
    tracker = tracker or Tracker()
    started = time.perf_counter()
    prepared, resumed = resume(checkpoints, prepare(spec, settings, tracker), spec, settings)
    data, splits, embedding, model = (
        prepared.data,
        prepared.splits,
        prepared.embedding,
        prepared.model,
    )
    # Traced now, while the job is building: it has nothing to count.
    explainer = explain.DriverExplainer(model, spec, settings.explain_steps) if score_test else None
    first_epoch = resumed.epochs_done if resumed else 0
    if on_resume is not None:
        on_resume(first_epoch)
    monitor = TrainingMonitor(tracker, on_epoch, resumed.history if resumed else None)
    stopping = early_stopping(spec, resumed)
    callbacks: list[keras.callbacks.Callback] = [monitor, *([stopping] if stopping else [])]
    if checkpoints is not None:

        def saved(size: int) -> None:
            tracker.checkpoint_bytes = size

        callbacks.append(EpochCheckpoint(checkpoints, monitor, stopping, saved))
    fit_started = time.perf_counter()
    stopped_early = bool(resumed and resumed.early_stopping and resumed.early_stopping.stopped)
    if stopped_early:  # early stopping had ended the run: nothing left but its last step
        assert stopping is not None and resumed is not None
        if stopping.restore_best_weights and resumed.best_weights is not None:
            model.set_weights(resumed.best_weights)
    elif first_epoch < spec.epochs:
        fit(model, splits, spec, callbacks, first_epoch=first_epoch)
    trained = time.perf_counter()
    result = TrainingResult(
        spec=spec,
        cancelled=monitor.stopped,
        history=monitor.history,
        parameters=parameter_counts(model),
        vocabulary=data.vocabulary,
        model=model,
        embedding_coverage=round(embedding.coverage, 4) if embedding else None,
        sizes={
            "train": len(splits.y_train),
            "validation": len(splits.y_val),
            "test": len(splits.y_test),
        },
        timings={
            "prepare_seconds": round(fit_started - started, 3),
            "seconds_to_first_epoch": round((monitor.first_epoch_started or trained) - started, 3),
            "text_from_cache": float(data.from_cache),
            "train_seconds": round(trained - fit_started, 3),
            "resumed_after_epoch": float(first_epoch),
        },
    )
    if monitor.stopped:
        return result
    result.temperature = fit_temperature(splits.y_val, predict(model, splits.x_val))
    if monitor.history:
        result.diagnosis = diagnose(monitor.history, spec)
    if explainer is None:  # without score_test: the test split stays unread
        return result
    tested = evaluate(model, spec, splits.x_test, splits.y_test, tracker, result.temperature)
    result.test_metrics, result.reliability = tested.metrics, tested.reliability
    evaluated = time.perf_counter()
    result.timings["evaluate_seconds"] = round(evaluated - trained, 3)
    result.drivers = explain.drivers(
        explainer, splits.x_test, data.vocabulary, result.temperature, tracker
    )
    result.timings["drivers_seconds"] = round(time.perf_counter() - evaluated, 3)
    return result
