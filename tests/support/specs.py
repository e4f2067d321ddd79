"""Small specs on a slice of the real data: a few hundred reviews, short sequences."""

from typing import Any

from app.specs.spec import TrainingSpec

TINY_TEXT = {"max_len": 32, "vocab_size": 2000}
# What every finished job's test metrics hold (``evaluation.classification_metrics``).
# `best`'s kind of model, small: a binarized, NB-weighted bag of n-grams up to trigrams.
NB_TRIGRAM_BAG: dict[str, Any] = {
    "architecture": "dense",
    "pooling": "average",
    "sequence": {
        "max_len": 96,
        "vocab_size": 20000,
        "ngrams": 3,
        "binary": True,
        "nb_weights": True,
    },
}
TEST_METRICS = {"loss", "accuracy", "precision", "recall", "f1", "roc_auc", "ece"}


def ece_of_diagram(bins: list[dict[str, Any]]) -> float:
    """The expected calibration error a job's reliability diagram (JSON) implies: each
    bin's gap between its share of positives and its mean probability, weighted by count."""
    total = sum(b["count"] for b in bins)
    return sum(b["count"] * abs(b["positive_rate"] - b["mean_probability"]) for b in bins) / total


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
