"""The Keras callback through which the worker follows and steers a training run."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


class TrainingMonitor(keras.callbacks.Callback):
    """Reports each finished epoch and stops training between batches when asked.

    ``should_stop`` may be costly (a database read), so it is called at most once
    every ``check_every`` seconds. The batch hook reads no batch logs, so the
    callback is marked async-safe: Keras then runs it without syncing each batch,
    and the pipeline adds no overhead to the epoch. An epoch cut short by a stop
    is not reported: its numbers would cover only part of the data.
    """

    async_safe = True

    def __init__(
        self,
        on_epoch: Callable[[EpochMetrics], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        check_every: float = 0.5,
    ) -> None:
        super().__init__()
        self.on_epoch = on_epoch
        self.should_stop = should_stop
        self.check_every = check_every
        self.history: list[EpochMetrics] = []
        self.stopped = False
        self.first_epoch_started: float | None = None  # perf_counter() time
        self._epoch_started = 0.0
        self._last_check = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()
        if self.first_epoch_started is None:
            self.first_epoch_started = self._epoch_started

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.should_stop is None or self.stopped:
            return
        now = time.monotonic()
        if now - self._last_check < self.check_every:
            return
        self._last_check = now
        if self.should_stop():
            self.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.stopped:
            return
        logs = logs or {}
        metrics = EpochMetrics(
            epoch=epoch + 1,
            loss=float(logs["loss"]),
            accuracy=float(logs["accuracy"]),
            val_loss=float(logs["val_loss"]),
            val_accuracy=float(logs["val_accuracy"]),
            seconds=time.perf_counter() - self._epoch_started,
        )
        self.history.append(metrics)
        if self.on_epoch is not None:
            self.on_epoch(metrics)
