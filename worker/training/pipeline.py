"""One training run: spec in, trained and evaluated model out.

``train`` is what the Celery task and the command line call. The worker follows
the run through ``on_epoch`` (each finished epoch's metrics) and steers it with
``should_stop`` (checked between preparation steps and between batches).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from app.core.settings import Settings
from app.jobs.spec import Loss, TrainingSpec
from app.registry.artifact import token_count
from worker.training.architectures import build_model, compile_model, parameter_counts
from worker.training.callbacks import EpochMetrics, TrainingMonitor
from worker.training.diagnosis import Diagnosis, diagnose
from worker.training.embeddings import EmbeddingMatrix, build_embedding_matrix
from worker.training.evaluation import classification_metrics
from worker.training.stopping import TrainingStopped
from worker.training.text import VectorizedImdb, load_vectorized

PREDICT_BATCH = 1024


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
    diagnosis: Diagnosis | None = None
    sizes: dict[str, int] = field(default_factory=dict)

    def manifest_metadata(self) -> dict[str, Any]:
        """What the exported model's manifest records about this run."""
        summary = self.summary()
        keys = ("test", "parameters", "diagnosis", "epochs", "embedding_coverage")
        return {key: summary[key] for key in keys}

    def summary(self) -> dict[str, Any]:
        """Everything but the model, as JSON-ready values."""
        return {
            "name": self.spec.name,
            "cancelled": self.cancelled,
            "epochs": [vars(epoch) for epoch in self.history],
            "test": self.test_metrics,
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
    rng = np.random.default_rng(spec.seed)
    train_rows = _balanced_sample(data.y_train, spec.train_size, rng)
    test_rows = _balanced_sample(data.y_test, spec.test_size, rng)
    validation = max(1, round(len(train_rows) * spec.validation_split))
    val_rows, fit_rows = train_rows[:validation], train_rows[validation:]
    return Splits(
        x_train=data.x_train[fit_rows],
        y_train=data.y_train[fit_rows],
        x_val=data.x_train[val_rows],
        y_val=data.y_train[val_rows],
        x_test=data.x_test[np.sort(test_rows)],
        y_test=data.y_test[np.sort(test_rows)],
    )


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


def prepare(
    spec: TrainingSpec, settings: Settings, should_stop: Callable[[], bool] | None = None
) -> Prepared:
    """Load the data, the word vectors and the model; ``should_stop`` is checked
    between these steps (each can take a while) and raises :class:`TrainingStopped`."""

    def checkpoint() -> None:
        if should_stop is not None and should_stop():
            raise TrainingStopped("stopped while preparing")

    seed_everything(spec.seed)
    checkpoint()
    data = load_vectorized(spec.sequence, settings.imdb_path, settings.cache_dir)
    checkpoint()
    embedding = build_embedding_matrix(
        spec.embedding,
        data.vocabulary,
        settings.imdb_path,
        settings.cache_dir,
        settings.vectors_dir,
    )
    checkpoint()
    model = build_model(spec, data.vocabulary_size, embedding.matrix if embedding else None)
    checkpoint()
    return Prepared(data, split_data(data, spec), embedding, compile_model(model, spec))


def spec_callbacks(spec: TrainingSpec) -> list[keras.callbacks.Callback]:
    if spec.early_stopping is None:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor=spec.early_stopping.monitor,
            patience=spec.early_stopping.patience,
            restore_best_weights=spec.early_stopping.restore_best_weights,
        )
    ]


def fit(
    model: keras.Model,
    splits: Splits,
    spec: TrainingSpec,
    callbacks: list[keras.callbacks.Callback],
    epochs: int | None = None,
) -> None:
    """The pipeline's ``model.fit`` call: shuffled batches, the held-out validation set."""
    model.fit(
        splits.x_train,
        splits.y_train,
        batch_size=spec.batch_size,
        epochs=epochs or spec.epochs,
        validation_data=(splits.x_val, splits.y_val),
        callbacks=callbacks,
        shuffle=True,
        verbose=0,
    )


def train(
    spec: TrainingSpec,
    settings: Settings,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    started = time.perf_counter()
    prepared = prepare(spec, settings, should_stop)
    data, splits, embedding, model = (
        prepared.data,
        prepared.splits,
        prepared.embedding,
        prepared.model,
    )
    monitor = TrainingMonitor(on_epoch=on_epoch, should_stop=should_stop)
    fit_started = time.perf_counter()
    fit(model, splits, spec, [monitor, *spec_callbacks(spec)])
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
        },
    )
    if monitor.stopped:
        return result
    result.test_metrics = evaluate(model, spec, splits.x_test, splits.y_test)
    result.timings["evaluate_seconds"] = round(time.perf_counter() - trained, 3)
    if monitor.history:
        result.diagnosis = diagnose(monitor.history, spec)
    return result


def evaluate(
    model: keras.Model, spec: TrainingSpec, x: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    """Test loss (as ``model.evaluate`` reports it: data loss plus weight penalties)
    and the classification metrics, from one pass of predictions."""
    probabilities = model.predict(x, batch_size=PREDICT_BATCH, verbose=0).ravel()
    if spec.loss == Loss.mse:
        data_loss = float(np.mean((probabilities - y) ** 2))
    else:
        data_loss = float(
            keras.ops.mean(keras.losses.binary_crossentropy(y[:, None], probabilities[:, None]))
        )
    penalty = float(sum(float(loss) for loss in model.losses))
    return {"loss": data_loss + penalty, **classification_metrics(y, probabilities)}
