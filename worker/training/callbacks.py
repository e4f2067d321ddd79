"""The Keras callbacks through which the worker follows, steers and checkpoints a run."""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras

from app.jobs.progress import Phase
from worker.training.records import EarlyStoppingState, EpochMetrics, Resumed

if TYPE_CHECKING:
    from worker.training.checkpoints import Checkpoints
    from worker.training.tracker import Tracker


class TrainingMonitor(keras.callbacks.Callback):
    """Reports each finished epoch, counts batches, and stops training between
    batches when asked.

    ``tracker.stopping()`` may be costly, so it is asked at most once every
    ``check_every`` seconds. The batch hook reads no batch logs, so the callback
    is marked async-safe: Keras then runs it without syncing each batch, and the
    pipeline adds no overhead to the epoch. An epoch cut short by a stop is not
    reported: its numbers would cover only part of the data.
    """

    async_safe = True

    def __init__(
        self,
        tracker: "Tracker",
        on_epoch: Callable[[EpochMetrics], None] | None = None,
        history: list[EpochMetrics] | None = None,
        check_every: float = 0.5,
    ) -> None:
        super().__init__()
        self.tracker = tracker
        self.on_epoch = on_epoch
        self.check_every = check_every
        self.history: list[EpochMetrics] = list(history or [])  # a resumed run's earlier epochs
        self.stopped = False
        self.first_epoch_started: float | None = None  # perf_counter() time
        self._epoch = 0
        self._steps = 0
        self._training = False
        self._epoch_started = 0.0
        self._last_check = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._steps = int(self.params.get("steps") or 0)
        self._training = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._epoch_started = time.perf_counter()
        if self.first_epoch_started is None:
            self.first_epoch_started = self._epoch_started

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        done = self._epoch * self._steps + batch + 1
        if not self._training:
            # The first batch compiles the training step: until it ends, the run is
            # still building and compiling.
            self._training = True
            epochs, first = int(self.params.get("epochs") or 0), len(self.history)
            self.tracker.start(Phase.training, epochs * self._steps, "batches", first * self._steps)
        self.tracker.update(done, epoch=self._epoch + 1)
        if self.stopped:
            return
        now = time.monotonic()
        if now - self._last_check < self.check_every:
            return
        self._last_check = now
        if self.tracker.stopping():
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


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping, whose state a checkpoint saves and restores."""

    def __init__(self, resumed: "Resumed | None" = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resumed = resumed

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        state = self.resumed.early_stopping if self.resumed else None
        if state is not None:
            assert self.resumed is not None
            self.wait, self.best = state.wait, state.best
            self.best_epoch, self.stopped_epoch = state.best_epoch, state.stopped_epoch
            self.best_weights = self.resumed.best_weights

    def state(self) -> "EarlyStoppingState":

        return EarlyStoppingState(
            wait=self.wait,
            best=None if self.best is None else float(self.best),
            best_epoch=self.best_epoch,
            stopped_epoch=self.stopped_epoch,
            stopped=bool(self.model.stop_training),
        )


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint after each epoch the monitor reported (listed after it and
    after early stopping, so both have seen the epoch)."""

    def __init__(
        self,
        checkpoints: "Checkpoints",
        monitor: TrainingMonitor,
        early_stopping: ResumableEarlyStopping | None,
        on_saved: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self.monitor = monitor
        self.early_stopping = early_stopping
        self.on_saved = on_saved

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.monitor.stopped:
            return
        stopping = self.early_stopping
        size = self.checkpoints.save(
            self.model,
            epoch + 1,
            self.monitor.history,
            stopping.state() if stopping else None,
            stopping.best_weights if stopping else None,
        )
        if self.on_saved is not None:
            self.on_saved(size)


class PredictProgress(keras.callbacks.Callback):
    """Counts the reviews scored, for the evaluating phase (a stop point)."""

    def __init__(self, tracker: "Tracker", batch_size: int, total: int) -> None:
        super().__init__()
        self.tracker, self.batch_size, self.total = tracker, batch_size, total

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.tracker.advance(min((batch + 1) * self.batch_size, self.total))
