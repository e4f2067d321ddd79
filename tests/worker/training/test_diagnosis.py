import pytest

from worker.training.callbacks import EpochMetrics
from worker.training.diagnosis import Fit, diagnose


def curve(*points):
    """Epochs from (loss, accuracy, val_loss, val_accuracy) tuples."""
    return [
        EpochMetrics(i, loss, accuracy, val_loss, val_accuracy, seconds=1.0)
        for i, (loss, accuracy, val_loss, val_accuracy) in enumerate(points, start=1)
    ]


def test_a_wide_accuracy_gap_is_overfitting_with_the_courses_remedies():
    result = diagnose(curve((0.5, 0.80, 0.50, 0.79), (0.2, 0.95, 0.45, 0.84)))
    assert result.fit == Fit.overfitting
    assert "exceeds validation accuracy" in result.reason
    assert any("dropout" in remedy for remedy in result.remedies)
    assert any("L2" in remedy for remedy in result.remedies)
    assert any("smaller network" in remedy for remedy in result.remedies)


def test_a_rising_validation_loss_is_overfitting():
    history = curve((0.5, 0.80, 0.40, 0.82), (0.40, 0.84, 0.38, 0.83), (0.35, 0.86, 0.42, 0.83))
    result = diagnose(history)
    assert result.fit == Fit.overfitting
    assert result.evidence["best_val_loss_epoch"] == 2


def test_a_model_that_cannot_fit_the_training_data_is_underfitting():
    result = diagnose(curve((0.69, 0.55, 0.69, 0.54), (0.68, 0.58, 0.68, 0.57)))
    assert result.fit == Fit.underfitting
    assert any("bigger model" in remedy for remedy in result.remedies)


def test_curves_still_falling_together_are_underfitting():
    result = diagnose(curve((0.45, 0.82, 0.44, 0.82), (0.38, 0.85, 0.37, 0.85)))
    assert result.fit == Fit.underfitting
    assert "still learning" in result.reason
    assert any("epochs" in remedy for remedy in result.remedies)


def test_levelled_curves_close_together_are_a_good_fit():
    result = diagnose(curve((0.40, 0.84, 0.38, 0.84), (0.36, 0.86, 0.375, 0.845)))
    assert result.fit == Fit.good_fit
    assert result.remedies == []


def test_no_epochs_is_an_error():
    with pytest.raises(ValueError, match="at least one finished epoch"):
        diagnose([])
