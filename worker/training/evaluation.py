"""Test-set metrics: a trained model's on a split (``evaluate``), and the
classification metrics of any predicted probabilities (an ensemble's too)."""

import keras
import numpy as np
from scipy.stats import rankdata

from app.jobs.progress import Phase
from app.specs.spec import Loss, TrainingSpec
from worker.training.callbacks import PredictProgress
from worker.training.tracker import Tracker

PREDICT_BATCH = 1024


def evaluate(
    model: keras.Model,
    spec: TrainingSpec,
    x: np.ndarray,
    y: np.ndarray,
    tracker: Tracker | None = None,
) -> dict[str, float]:
    """Test loss (as ``model.evaluate`` reports it: data loss plus weight penalties)
    and the classification metrics, from one pass of predictions."""
    tracker = tracker or Tracker()
    tracker.start(Phase.evaluating, len(y), "reviews")
    probabilities = model.predict(
        x,
        batch_size=PREDICT_BATCH,
        verbose=0,
        callbacks=[PredictProgress(tracker, PREDICT_BATCH, len(y))],
    ).ravel()
    if spec.loss == Loss.mse:
        data_loss = float(np.mean((probabilities - y) ** 2))
    else:
        data_loss = float(
            keras.ops.mean(keras.losses.binary_crossentropy(y[:, None], probabilities[:, None]))
        )
    penalty = float(sum(float(loss) for loss in model.losses))
    return {"loss": data_loss + penalty, **classification_metrics(y, probabilities)}


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and ROC AUC at the 0.5 threshold."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    predicted = scores >= 0.5
    true_positive = int(np.sum(predicted & labels))
    false_positive = int(np.sum(predicted & ~labels))
    false_negative = int(np.sum(~predicted & labels))
    precision = _ratio(true_positive, true_positive + false_positive)
    recall = _ratio(true_positive, true_positive + false_negative)
    return {
        "accuracy": float(np.mean(predicted == labels)) if labels.size else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "roc_auc": roc_auc(labels, scores),
    }


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank statistic (ties averaged)."""
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0
