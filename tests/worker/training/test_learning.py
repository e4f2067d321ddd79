"""Training learns: a seeded bag-of-words on a few thousand real reviews beats a stated
test accuracy, and its exported SavedModel scores praise above a pan."""

from pathlib import Path

import tensorflow as tf

from app.core.settings import Settings
from tests.support.specs import tiny_spec
from worker.training.export import export_saved_model
from worker.training.pipeline import train

# Measured on this spec (test accuracy on 2,000 held-out reviews): seed 1 0.812,
# seed 2 0.8125, seed 3 0.826; ROC AUC 0.90 to 0.92. The praise below scored above
# 0.999 and the pan below 0.002; "wonderful" alone 1.0, "dreadful" alone below 1e-6.
#
# Why a run that does not learn cannot pass: the test slice is balanced (1,000 of
# each class), so a model whose training labels were shuffled, misaligned or
# constant scores 0.5 on average, with a standard deviation of sqrt(0.25 / 2000)
# = 0.011; 0.75 is more than 20 of those above it. The ROC AUC bar is as far from
# the 0.5 of a model that ranks at random.
MIN_ACCURACY = 0.75
MIN_ROC_AUC = 0.82

LEARNS = tiny_spec(
    name="learns",
    architecture="dense",
    pooling="average",
    sequence={"max_len": 128, "vocab_size": 5000},
    optimizer={"name": "adam", "learning_rate": 0.01},
    epochs=3,
    batch_size=64,
    train_size=4000,
    test_size=2000,
    seed=1,
)

PRAISE = "A wonderful film: brilliant acting, a moving story. I loved every minute of it."
PAN = "A dreadful film: awful acting, a boring story. I hated every minute of it."


def test_a_seeded_run_on_real_reviews_learns_the_sentiment(settings: Settings, tmp_path: Path):
    result = train(LEARNS, settings)
    assert result.sizes == {"train": 3200, "validation": 800, "test": 2000}
    metrics = result.test_metrics
    assert metrics is not None
    assert metrics["accuracy"] >= MIN_ACCURACY, metrics
    assert metrics["roc_auc"] >= MIN_ROC_AUC, metrics
    # It learned as it went: the training loss fell from the first epoch to the last.
    assert result.history[-1].loss < result.history[0].loss

    # Raw text in, through the model as served: praise scores above the pan, each on
    # its side of the threshold.
    folder = tmp_path / "model"
    export_saved_model(result.model, result.vocabulary, result.spec, {}, folder)
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    scores = serve(text=tf.constant([PRAISE, PAN, "wonderful", "dreadful"]))["probability"]
    praise, pan, wonderful, dreadful = (float(score) for score in scores.numpy().ravel())
    assert praise > 0.5 > pan, (praise, pan)
    assert praise - pan > 0.3, (praise, pan)
    assert wonderful > 0.5 > dreadful, (wonderful, dreadful)
