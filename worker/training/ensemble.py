"""An ensemble of registered versions: load them, average their probabilities, evaluate.

The ensemble is one ``tf.Module`` whose serving function takes raw review strings
and answers the weighted average of its members' P(positive). The members' loaded
SavedModels are attributes of it, so exporting it (``export.export_ensemble``)
writes their graphs, weights and vocabularies inside the new SavedModel: it loads
and scores with TensorFlow alone, without the members' folders.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from app.jobs.progress import Phase
from app.registry import artifact
from worker.training.evaluation import Evaluation, calibrated_in_graph, fit_temperature
from worker.training.tracker import Tracker

SCORE_BATCH = 512  # texts per call while evaluating; each batch is a stop point
EPSILON = 1e-7  # Keras's: probabilities are clipped to [eps, 1 - eps] for the loss
MIN_HELD_OUT = 100  # fewer held-out reviews fit no temperature


class MemberLoadError(RuntimeError):
    """A member's artifact failed its checksums or could not be loaded."""


def load_member(version: int, folder: Path) -> Any:
    """A member's SavedModel, once its files match its manifest's checksums."""
    try:
        broken = artifact.verify_checksums(folder)
    except (OSError, ValueError, KeyError) as error:
        raise MemberLoadError(
            f"member version {version} has no readable {artifact.MANIFEST}: {error}"
        ) from error
    if broken:
        raise MemberLoadError(
            f"member version {version} failed its checksum check: "
            f"{', '.join(broken[:5])} differ from {artifact.MANIFEST}"
        )
    try:
        return tf.saved_model.load(str(folder))
    except Exception as error:
        raise MemberLoadError(
            f"member version {version} failed to load: {type(error).__name__}: {error}"
        ) from error


class Ensemble(tf.Module):
    """``serve(text)``: the members' probabilities, weighted (the weights sum to 1), then
    calibrated by ``temperature`` as a trained model's are (1: left as they are). The
    temperature is a variable: fitted after scoring held-out reviews with it at 1."""

    def __init__(self, members: Sequence[Any], weights: Sequence[float]) -> None:
        super().__init__(name="ensemble")
        if len(members) != len(weights) or len(members) < 2:
            raise ValueError(f"expected two or more members with one weight each; got {weights}")
        self.members = list(members)  # tracked: exported with the ensemble
        self.weights = tf.constant(list(weights), dtype=tf.float32)
        self.temperature = tf.Variable(1.0, trainable=False, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=artifact.INPUT)])
    def serve(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = [
            member.signatures[artifact.SIGNATURE](**{artifact.INPUT: text})[artifact.OUTPUT]
            for member in self.members
        ]
        average = tf.linalg.matvec(tf.stack(scores, axis=1), self.weights)  # [batch]
        calibrated = calibrated_in_graph(average, self.temperature)
        return {artifact.OUTPUT: tf.where(self.temperature == 1.0, average, calibrated)}


def score(ensemble: Ensemble, texts: Sequence[str], tracker: Tracker | None = None) -> np.ndarray:
    """P(positive) of every text, a batch at a time (counted in the evaluating phase)."""
    tracker = tracker or Tracker()
    tracker.start(Phase.evaluating, len(texts), "reviews")
    scored = []
    for start in range(0, len(texts), SCORE_BATCH):
        batch = tf.constant(list(texts[start : start + SCORE_BATCH]), dtype=tf.string)
        scored.append(ensemble.serve(batch)[artifact.OUTPUT].numpy())
        tracker.advance(min(start + SCORE_BATCH, len(texts)))
    return np.concatenate(scored) if scored else np.zeros(0, dtype=np.float32)


def fit_ensemble_temperature(
    ensemble: Ensemble, texts: Sequence[str], labels: np.ndarray, tracker: Tracker | None = None
) -> float:
    """Fit the ensemble's temperature on reviews none of its members fitted on
    (``pipeline.held_out_rows``), set it and return it; 1.0, left as is, with fewer than
    MIN_HELD_OUT of them (or one class only). Averaging calibrated members tempers the
    average (they disagree most where each is unsure), so an ensemble needs its own."""
    ensemble.temperature.assign(1.0)
    if len(texts) < MIN_HELD_OUT:
        return 1.0
    temperature = fit_temperature(labels, score(ensemble, texts, tracker))
    ensemble.temperature.assign(temperature)
    return temperature


def evaluate(
    ensemble: Ensemble, texts: Sequence[str], labels: np.ndarray, tracker: Tracker | None = None
) -> Evaluation:
    """Binary cross-entropy of the average and the classification metrics: what a
    trained model's test metrics hold (an ensemble has no weight penalties of its own)."""
    probabilities = score(ensemble, texts, tracker).astype(np.float64)
    y = np.asarray(labels, dtype=np.float64)
    clipped = np.clip(probabilities, EPSILON, 1 - EPSILON)
    loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    return Evaluation.of(y, probabilities, loss)
