"""Known answers for the hand-written test-set metrics: small cases computed by hand,
and a cross-check against an independent count on random data."""

import math
import warnings

import numpy as np
import pytest

from worker.training.evaluation import (
    calibrated,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    reliability,
    roc_auc,
)

# Four positives, six negatives. At the 0.5 threshold (0.5 itself counts as positive):
#   positives 0.9, 0.6, 0.5 -> true positives (3); 0.2 -> a false negative (1)
#   negatives 0.7, 0.55 -> false positives (2); 0.1, 0.3, 0.49, 0.0 -> true negatives (4)
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
SCORES = np.array([0.9, 0.6, 0.5, 0.2, 0.7, 0.55, 0.1, 0.3, 0.49, 0.0])


def pairwise_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The probability that a random positive outscores a random negative (a tie counts
    half), by comparing every positive with every negative."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    wins = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((wins + 0.5 * ties) / (len(positive) * len(negative)))


def test_the_threshold_metrics_of_a_case_counted_by_hand():
    metrics = classification_metrics(LABELS, SCORES)
    assert metrics["accuracy"] == pytest.approx(7 / 10)  # 3 TP + 4 TN of 10
    assert metrics["precision"] == pytest.approx(3 / 5)  # 3 TP of 5 predicted positive
    assert metrics["recall"] == pytest.approx(3 / 4)  # 3 TP of 4 positives
    assert metrics["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))  # = 2/3
    assert metrics["f1"] == pytest.approx(2 / 3)


def test_a_score_of_exactly_one_half_is_a_positive_prediction():
    at_threshold = classification_metrics(np.array([1, 0]), np.array([0.5, 0.4999]))
    assert at_threshold["accuracy"] == 1.0
    assert at_threshold["precision"] == 1.0 and at_threshold["recall"] == 1.0


def test_no_predicted_positive_gives_zero_precision_and_f1_not_an_error():
    metrics = classification_metrics(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert metrics["accuracy"] == 0.5
    assert (metrics["precision"], metrics["recall"], metrics["f1"]) == (0.0, 0.0, 0.0)
    assert metrics["roc_auc"] == 0.0  # every negative outscores every positive


def test_the_roc_auc_of_a_case_counted_by_hand():
    # Pairs (positive, negative) where the positive scores higher, out of 4 x 6 = 24:
    #   0.9 beats all 6; 0.6 beats 5 (not 0.7); 0.5 beats 4 (0.1, 0.3, 0.49, 0.0);
    #   0.2 beats 2 (0.1, 0.0): 17 of 24.
    assert roc_auc(LABELS.astype(bool), SCORES) == pytest.approx(17 / 24)
    assert classification_metrics(LABELS, SCORES)["roc_auc"] == pytest.approx(17 / 24)


def test_a_tie_between_a_positive_and_a_negative_counts_half():
    # Pairs: (0.5, 0.5) a tie -> 1/2; (0.5, 0.2), (0.8, 0.5), (0.8, 0.2) won -> 3.5 of 4.
    labels = np.array([True, False, True, False])
    assert roc_auc(labels, np.array([0.5, 0.5, 0.8, 0.2])) == pytest.approx(3.5 / 4)
    assert roc_auc(labels, np.full(4, 0.3)) == pytest.approx(0.5)  # all tied: chance


def test_perfect_and_reversed_rankings():
    labels = np.array([False, True, False, True, True])
    scores = np.array([0.1, 0.7, 0.3, 0.9, 0.8])
    assert roc_auc(labels, scores) == 1.0
    assert roc_auc(labels, 1.0 - scores) == 0.0
    # Only the order counts, not the values nor the threshold.
    assert roc_auc(labels, scores * 0.01) == 1.0


@pytest.mark.parametrize("label", [True, False])
def test_one_class_only_has_no_roc_auc(label: bool):
    labels = np.full(5, label)
    scores = np.linspace(0.1, 0.9, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recognized, not a division by zero that yields nan
        assert math.isnan(roc_auc(labels, scores))
        assert math.isnan(classification_metrics(labels.astype(int), scores)["roc_auc"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_cases_agree_with_counting_directly(seed: int):
    rng = np.random.default_rng(seed)
    size = 301
    labels = rng.random(size) < 0.4
    # Rounded to one decimal: many ties, some of them across the classes.
    scores = np.round(np.clip(rng.normal(0.45 + 0.2 * labels, 0.25), 0.0, 1.0), 1)
    metrics = classification_metrics(labels.astype(np.float32), scores.astype(np.float32))

    predicted = [score >= 0.5 for score in scores]
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for truth, guess in zip(labels, predicted, strict=True):
        key = ("t" if truth == guess else "f") + ("p" if guess else "n")
        counts[key] += 1
    precision = counts["tp"] / (counts["tp"] + counts["fp"])
    recall = counts["tp"] / (counts["tp"] + counts["fn"])
    assert metrics["accuracy"] == pytest.approx((counts["tp"] + counts["tn"]) / size)
    assert metrics["precision"] == pytest.approx(precision)
    assert metrics["recall"] == pytest.approx(recall)
    assert metrics["f1"] == pytest.approx(2 * precision * recall / (precision + recall))

    expected = pairwise_auc(labels.astype(int), scores)
    assert 0.55 < expected < 0.95  # an informative case, neither chance nor perfect
    assert metrics["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert roc_auc(labels, scores) == pytest.approx(expected, abs=1e-12)


def test_the_calibration_error_of_a_case_counted_by_hand():
    # Bins of 0.1; in each, |share of positives - mean probability|, weighted by count:
    #   0.0 (neg) 0; 0.1 (neg) 0.1; 0.2 (pos) 0.8; 0.3 (neg) 0.3; 0.49 (neg) 0.49;
    #   0.5 (pos) and 0.55 (neg): |1/2 - 0.525| = 0.025, twice; 0.6 (pos) 0.4;
    #   0.7 (neg) 0.7; 0.9 (pos) 0.1. In all 2.94 over 10 predictions.
    assert expected_calibration_error(LABELS, SCORES) == pytest.approx(0.294)
    assert classification_metrics(LABELS, SCORES)["ece"] == pytest.approx(0.294)
    diagram = reliability(LABELS, SCORES)
    assert [b["count"] for b in diagram] == [1, 1, 1, 1, 1, 2, 1, 1, 0, 1]
    assert diagram[5] == pytest.approx(
        {"lower": 0.5, "upper": 0.6, "count": 2, "mean_probability": 0.525, "positive_rate": 0.5}
    )
    assert diagram[8]["mean_probability"] == diagram[8]["positive_rate"] == 0.0  # empty


def test_probabilities_that_mean_what_they_say_have_almost_no_calibration_error():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.0, 1.0, 200_000)
    labels = (rng.uniform(0.0, 1.0, probabilities.size) < probabilities).astype(int)
    assert expected_calibration_error(labels, probabilities) < 0.005
    # Overconfident: the same predictions pushed toward 0 and 1 (logits times 3).
    logits = np.log(probabilities) - np.log1p(-probabilities)
    overconfident = 1.0 / (1.0 + np.exp(-3.0 * logits))
    assert expected_calibration_error(labels, overconfident) > 0.1
    assert reliability(np.array([1]), np.array([1.0]))[-1]["count"] == 1  # 1.0: the last bin
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_the_temperature_fitted_on_validation_undoes_overconfidence_keeping_decisions():
    rng = np.random.default_rng(1)
    honest = rng.uniform(0.01, 0.99, 20_000)
    labels = (rng.uniform(0.0, 1.0, honest.size) < honest).astype(int)
    logits = np.log(honest) - np.log1p(-honest)
    overconfident = 1.0 / (1.0 + np.exp(-3.0 * logits))  # logits three times too large
    temperature = fit_temperature(labels, overconfident)
    assert temperature == pytest.approx(3.0, rel=0.05)
    fixed = calibrated(overconfident, temperature)
    assert expected_calibration_error(labels, fixed) < 0.01
    assert expected_calibration_error(labels, overconfident) > 0.1
    assert np.array_equal(fixed >= 0.5, overconfident >= 0.5)  # the same decisions
    assert np.array_equal(calibrated(overconfident, 1.0), overconfident)
    assert fit_temperature(np.ones(5), overconfident[:5]) == 1.0  # one class: nothing to fit
