"""Small specs on a slice of the real data: a few hundred reviews, short sequences."""

from typing import Any

from app.specs.spec import TrainingSpec

TINY_TEXT = {"max_len": 32, "vocab_size": 2000}
# What every finished job's test metrics hold (``evaluation.classification_metrics``).
TEST_METRICS = {"loss", "accuracy", "precision", "recall", "f1", "roc_auc", "ece"}
# A job spec (JSON) that trains in a second or two: a dense network, 200 reviews, one epoch.
QUICK_DENSE_JOB: dict[str, Any] = {
    "architecture": "dense",
    "embedding": {"dim": 8, "pretrained": None, "trainable": True},
    "sequence": TINY_TEXT,
    "epochs": 1,
    "train_size": 200,
    "test_size": 200,
}


def tiny_spec(**fields: Any) -> TrainingSpec:
    """A spec that trains in a second or two: 300 reviews, one epoch, 32 tokens."""
    base: dict[str, Any] = {
        "name": "tiny",
        "units": 8,
        "embedding": {"dim": 16, "pretrained": None, "trainable": True},
        "sequence": TINY_TEXT,
        "epochs": 1,
        "batch_size": 32,
        "train_size": 300,
        "test_size": 300,
    }
    return TrainingSpec.model_validate(base | fields)
