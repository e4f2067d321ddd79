import pytest

from app.specs.followups import suggestions
from app.specs.spec import TrainingSpec
from tests.support.imports import WEB, modules_after_importing
from worker.training.diagnosis import Fit, diagnose
from worker.training.records import EpochMetrics

LSTM = TrainingSpec.model_validate({"name": "lstm"})  # the course's example: frozen vectors


def diagnose_lstm(history):
    return diagnose(history, LSTM)


def curve(*points):
    """Epochs from (loss, accuracy, val_loss, val_accuracy) tuples."""
    return [
        EpochMetrics(i, loss, accuracy, val_loss, val_accuracy, seconds=1.0)
        for i, (loss, accuracy, val_loss, val_accuracy) in enumerate(points, start=1)
    ]


def test_a_wide_accuracy_gap_is_overfitting_with_the_courses_remedies():
    result = diagnose_lstm(curve((0.5, 0.80, 0.50, 0.79), (0.2, 0.95, 0.45, 0.84)))
    assert result.fit == Fit.overfitting
    assert "exceeds validation accuracy" in result.reason
    assert any("dropout" in remedy for remedy in result.remedies)
    assert any("L2" in remedy for remedy in result.remedies)
    assert any("smaller network" in remedy for remedy in result.remedies)


def test_a_rising_validation_loss_is_overfitting():
    history = curve((0.5, 0.80, 0.40, 0.82), (0.40, 0.84, 0.38, 0.83), (0.35, 0.86, 0.42, 0.83))
    result = diagnose_lstm(history)
    assert result.fit == Fit.overfitting
    assert result.evidence["best_val_loss_epoch"] == 2


def test_a_model_that_cannot_fit_the_training_data_is_underfitting():
    result = diagnose_lstm(curve((0.69, 0.55, 0.69, 0.54), (0.68, 0.58, 0.68, 0.57)))
    assert result.fit == Fit.underfitting
    assert any("bigger model" in remedy for remedy in result.remedies)


def test_curves_still_falling_together_are_underfitting():
    result = diagnose_lstm(curve((0.45, 0.82, 0.44, 0.82), (0.38, 0.85, 0.37, 0.85)))
    assert result.fit == Fit.underfitting
    assert "still learning" in result.reason
    assert any("epochs" in remedy for remedy in result.remedies)


def test_levelled_curves_close_together_are_a_good_fit():
    result = diagnose_lstm(curve((0.40, 0.84, 0.38, 0.84), (0.36, 0.86, 0.375, 0.845)))
    assert result.fit == Fit.good_fit
    assert any("Train longer" in remedy for remedy in result.remedies)


def test_no_epochs_is_an_error():
    with pytest.raises(ValueError, match="at least one finished epoch"):
        diagnose([], LSTM)


OVERFITTING = curve((0.5, 0.80, 0.50, 0.79), (0.2, 0.95, 0.45, 0.84))
UNDERFITTING = curve((0.69, 0.55, 0.69, 0.54), (0.68, 0.58, 0.68, 0.57))
GOOD_FIT = curve((0.40, 0.84, 0.38, 0.84), (0.36, 0.86, 0.375, 0.845))
CURVES = {Fit.overfitting: OVERFITTING, Fit.underfitting: UNDERFITTING, Fit.good_fit: GOOD_FIT}


def spec(**fields):
    return TrainingSpec.model_validate({"name": "s"} | fields)


# For each fit, a spec that applies one remedy already, the remedy's follow-up id, and
# the words of its advice.
ALREADY_APPLIED = [
    (Fit.overfitting, spec(dropout=0.5, recurrent_dropout=0.5), "more-dropout", "dropout"),
    (Fit.overfitting, spec(architecture="dense", dropout=0.5), "more-dropout", "dropout"),
    (Fit.overfitting, spec(regularization={"l2": 0.01}), "l2-regularization", "L2"),
    (Fit.overfitting, spec(regularization={"l2": 0.05}), "l2-regularization", "L2"),
    (Fit.overfitting, spec(units=4), "smaller-network", "smaller network"),
    (Fit.overfitting, spec(early_stopping={}), "early-stopping", "early_stopping"),
    (
        Fit.underfitting,
        spec(architecture="gru", embedding={"trainable": True}),
        "trainable-embeddings",
        "embeddings train",
    ),
    (Fit.underfitting, spec(epochs=200), "more-epochs", "more epochs"),
    (Fit.underfitting, spec(units=1024), "more-units", "more units"),
    (Fit.underfitting, spec(recurrent_layers=4), "more-layers", "more layers"),
    (
        Fit.underfitting,
        spec(architecture="dense", hidden_layers=[4096]),
        "more-units",
        "more units",
    ),
    (
        Fit.underfitting,
        spec(architecture="dense", hidden_layers=[8] * 8),
        "more-layers",
        "more layers",
    ),
    (Fit.good_fit, spec(epochs=200), "longer-with-early-stopping", "Train longer"),
    (Fit.good_fit, spec(units=1024), "bigger-with-dropout", "bigger network"),
]


@pytest.mark.parametrize(("fit", "applied", "remedy", "words"), ALREADY_APPLIED)
def test_a_remedy_the_spec_already_applies_is_neither_advised_nor_followed_up(
    fit, applied, remedy, words
):
    diagnosis = diagnose(CURVES[fit], applied)
    assert diagnosis.fit == fit
    assert not any(words in text for text in diagnosis.remedies), diagnosis.remedies
    assert remedy not in [s.id for s in suggestions(applied, {"fit": fit})]
    # The same remedy is advised and followed up for the course's default spec.
    default = spec(architecture=applied.architecture)
    assert any(words in text for text in diagnose(CURVES[fit], default).remedies)
    assert remedy in [s.id for s in suggestions(default, {"fit": fit})]


def test_an_underfitting_gru_with_trainable_embeddings_is_not_told_to_train_them():
    gru = spec(architecture="gru", embedding={"trainable": True})
    assert diagnose(UNDERFITTING, gru).remedies == [
        "Use a bigger model: more units.",
        "Use a bigger model: more layers.",
        "Train longer: more epochs.",
    ]


@pytest.mark.parametrize("fit", list(Fit))
@pytest.mark.parametrize(
    "job",
    [
        spec(),
        spec(architecture="gru", embedding={"trainable": True}, early_stopping={}),
        spec(architecture="dense", dropout=0.3, regularization={"l2": 0.001}),
        spec(dropout=0.5, recurrent_dropout=0.1, epochs=200, units=1024, recurrent_layers=4),
        spec(architecture="dense", hidden_layers=[4096] * 8, embedding={"dim": 2}, epochs=150),
    ],
)
def test_the_diagnosis_lists_exactly_the_follow_ups_advice(fit, job):
    diagnosis = diagnose(CURVES[fit], job)
    followed = suggestions(job, {"fit": fit})
    assert diagnosis.remedies == [s.text for s in followed]
    for suggestion in followed:  # each changes the spec, only where it lacks the remedy
        assert suggestion.spec.model_dump() | {"name": job.name} != job.model_dump()
        assert suggestion.changes


def test_a_remedy_already_half_applied_names_what_is_left():
    lstm = spec(dropout=0.5, regularization={"l2": 0.001})
    remedies = diagnose(OVERFITTING, lstm).remedies
    assert "Raise the dropout toward 0.5: recurrent_dropout = 0.2." in remedies
    assert "Strengthen the L2 weight regularization: regularization.l2 = 0.01." in remedies
    assert not any("Add L2" in text or "Add dropout" in text for text in remedies)
    stopping = spec(early_stopping={"restore_best_weights": False})
    offered = {s.id: s for s in suggestions(stopping, {"fit": "overfitting"})}
    assert offered["early-stopping"].changes == {"early_stopping.restore_best_weights": True}
    assert offered["early-stopping"].spec.early_stopping == stopping.early_stopping.model_copy(
        update={"restore_best_weights": True}
    )


def test_the_diagnosis_and_the_rules_load_no_web_framework():
    loaded = modules_after_importing("app.specs.remedies", "app.specs.followups")
    assert not WEB & loaded
    assert not WEB & modules_after_importing("worker.training.diagnosis")
