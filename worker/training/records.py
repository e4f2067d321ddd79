"""What a run records as it goes, shared by the callbacks that take it down and the
checkpoints that keep it: each epoch's metrics, early stopping's state, and what a
checkpoint gave back. Plain data: no TensorFlow.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass(frozen=True)
class EarlyStoppingState:
    wait: int
    best: float | None
    best_epoch: int
    stopped_epoch: int
    stopped: bool  # it ended the training at this epoch


@dataclass(frozen=True)
class Resumed:
    """What a checkpoint restored: the epochs behind the run, and early stopping's state."""

    epochs_done: int
    history: list[EpochMetrics]
    early_stopping: EarlyStoppingState | None
    best_weights: list[np.ndarray] | None
