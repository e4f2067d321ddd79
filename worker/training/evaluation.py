"""Test-set metrics: a trained model's on a split (``evaluate``), and the
classification metrics of any predicted probabilities (an ensemble's too), their
calibration included (``reliability``, ``expected_calibration_error``)."""

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from scipy.optimize import minimize_scalar
from scipy.stats import rankdata

from app.jobs.progress import Phase
from app.specs.spec import Loss, TrainingSpec
from worker.training.callbacks import PredictProgress
from worker.training.tracker import Tracker

PREDICT_BATCH = 1024
CALIBRATION_BINS = 10
# Probabilities are clipped this far from 0 and 1 before their logit is taken: a
# float32 sigmoid saturates to exactly 0 or 1, whose logit is infinite.
CLIP = 1e-7


@dataclass(frozen=True)
class Evaluation:
    """A model's scores on the test split: its metrics (loss, accuracy, ..., ``ece``) and
    the reliability diagram behind its ECE (``reliability``'s bins)."""

    metrics: dict[str, float]
    reliability: list[dict[str, float]]

    @classmethod
    def of(cls, labels: np.ndarray, probabilities: np.ndarray, loss: float) -> "Evaluation":
        return cls(
            {"loss": loss, **classification_metrics(labels, probabilities)},
            reliability(labels, probabilities),
        )


def evaluate(
    model: keras.Model,
    spec: TrainingSpec,
    x: np.ndarray,
    y: np.ndarray,
    tracker: Tracker | None = None,
    temperature: float = 1.0,
) -> Evaluation:
    """Test loss (as ``model.evaluate`` reports it: data loss plus weight penalties)
    and the classification metrics, from one pass of predictions, calibrated by
    ``temperature`` as the exported model calibrates them."""
    tracker = tracker or Tracker()
    tracker.start(Phase.evaluating, len(y), "reviews")
    probabilities = calibrated(
        predict(model, x, [PredictProgress(tracker, PREDICT_BATCH, len(y))]), temperature
    )
    if spec.loss == Loss.mse:
        data_loss = float(np.mean((probabilities - y) ** 2))
    else:
        data_loss = float(
            keras.ops.mean(keras.losses.binary_crossentropy(y[:, None], probabilities[:, None]))
        )
    penalty = float(sum(float(loss) for loss in model.losses))
    return Evaluation.of(y, probabilities, data_loss + penalty)


def predict(
    model: keras.Model, x: np.ndarray, callbacks: list[keras.callbacks.Callback] | None = None
) -> np.ndarray:
    """The model's probabilities for ``x``'s rows, as float64."""
    scores = model.predict(x, batch_size=PREDICT_BATCH, verbose=0, callbacks=callbacks or [])
    return np.asarray(scores, dtype=np.float64).ravel()


def logits(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), CLIP, 1.0 - CLIP)
    return np.log(clipped) - np.log1p(-clipped)


def calibrated(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """sigmoid(logit(p) / T): the same decisions at 0.5, with the confidence of each
    scaled (T > 1 tempers an overconfident model). T = 1 leaves them as they are."""
    if temperature == 1.0:
        return np.asarray(probabilities, dtype=np.float64).ravel()
    return 1.0 / (1.0 + np.exp(-logits(probabilities).ravel() / temperature))


def calibrated_in_graph(probabilities: tf.Tensor, temperature: tf.Tensor | float) -> tf.Tensor:
    """``calibrated`` as exported models compute it, in float32: sigmoid(logit(p) / T)."""
    clipped = tf.clip_by_value(probabilities, CLIP, 1.0 - CLIP)
    return tf.sigmoid((tf.math.log(clipped) - tf.math.log1p(-clipped)) / temperature)


def fit_temperature(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The temperature whose calibrated probabilities fit ``labels`` with the least log
    loss (temperature scaling, Guo et al. 2017), fitted on the validation split's
    predictions, never the test split's. 1.0 when the labels hold one class only."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    if labels.size == 0 or labels.min() == labels.max():
        return 1.0
    z = logits(probabilities).ravel()

    def log_loss(log_temperature: float) -> float:
        scaled = z / np.exp(log_temperature)
        # -log sigmoid(s) for positives, -log sigmoid(-s) for negatives, both stable.
        return float(np.mean(np.logaddexp(0.0, np.where(labels > 0.5, -scaled, scaled))))

    found = minimize_scalar(log_loss, bounds=(-3.0, 3.0), method="bounded")
    return round(float(np.exp(found.x)), 6)


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 at the 0.5 threshold, ROC AUC, and the
    expected calibration error (``ece``: does 0.9 mean positive nine times in ten?)."""
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
        "ece": expected_calibration_error(labels, scores),
    }


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank statistic (ties averaged)."""
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def reliability(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[dict[str, float]]:
    """The reliability diagram: the predicted probabilities of the positive class in
    ``bins`` equal-width bins over [0, 1] (each closed on the left; the last also on the
    right, so 1.0 counts), each bin's count, mean probability and share of positives
    (both 0 for an empty bin)."""
    labels = np.asarray(labels).astype(np.float64).ravel()
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    which = np.clip(np.floor(scores * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=scores, minlength=bins)
    positives = np.bincount(which, weights=labels, minlength=bins)
    filled = np.maximum(counts, 1)
    return [
        {
            "lower": b / bins,
            "upper": (b + 1) / bins,
            "count": int(counts[b]),
            "mean_probability": float(sums[b] / filled[b]),
            "positive_rate": float(positives[b] / filled[b]),
        }
        for b in range(bins)
    ]


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """The gap between the mean probability and the share of positives in each bin of
    the reliability diagram, weighted by the bin's share of the predictions (0: the
    probabilities mean what they say; Naeini et al. 2015, Guo et al. 2017)."""
    diagram = reliability(labels, probabilities, bins)
    total = sum(b["count"] for b in diagram)
    if total == 0:
        return 0.0
    return float(
        sum(b["count"] * abs(b["positive_rate"] - b["mean_probability"]) for b in diagram) / total
    )


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0
