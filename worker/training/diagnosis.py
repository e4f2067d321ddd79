"""Reading the learning curves: underfitting, good fit or overfitting.

The rule (docs/diagnosis.md explains it with the course's examples), applied to
the per-epoch training and validation curves:

1. **Overfitting** when the model learns the training set better than it
   generalizes: at the last epoch the training accuracy exceeds the validation
   accuracy by more than ``GAP`` (0.05), or the validation loss has risen more
   than ``RISE`` (5%) above its minimum while the training loss kept falling.
2. **Underfitting** otherwise, when the model has not even learned the training
   set (final training accuracy below ``LOW_ACCURACY``, 0.80), or both curves
   were still improving together at the end (validation loss fell by more than
   ``STILL_LEARNING`` (2%) over the last epoch with the gap under ``GAP``): more
   capacity or more epochs would still pay.
3. **Good fit** otherwise.

The remedies listed are those of ``app.specs.remedies`` for the verdict and the job's
spec, the same rules the follow-ups apply: a remedy the spec already has (dropout
already 0.5, trainable embeddings already trainable...) is not listed.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.specs.remedies import Fit, remedies
from app.specs.spec import TrainingSpec
from worker.training.records import EpochMetrics

__all__ = ["Diagnosis", "Fit", "diagnose"]

GAP = 0.05
RISE = 0.05
LOW_ACCURACY = 0.80
STILL_LEARNING = 0.02


@dataclass(frozen=True)
class Diagnosis:
    fit: Fit
    reason: str
    remedies: list[str] = field(default_factory=list)
    evidence: dict[str, float | int] = field(default_factory=dict)


def diagnose(history: Sequence[EpochMetrics], spec: TrainingSpec) -> Diagnosis:
    if not history:
        raise ValueError("diagnose needs at least one finished epoch, received none")
    last = history[-1]
    gap = last.accuracy - last.val_accuracy
    best = min(history, key=lambda m: m.val_loss)
    rise = last.val_loss / best.val_loss - 1 if best.val_loss > 0 else 0.0
    train_loss_fell = last.loss < best.loss
    previous = history[-2] if len(history) > 1 else None
    val_drop = 1 - last.val_loss / previous.val_loss if previous and previous.val_loss > 0 else 0.0
    evidence: dict[str, float | int] = {
        "accuracy_gap": round(gap, 4),
        "best_val_loss_epoch": best.epoch,
        "val_loss_rise_from_best": round(rise, 4),
        "last_val_loss_drop": round(val_drop, 4),
        "final_accuracy": round(last.accuracy, 4),
        "final_val_accuracy": round(last.val_accuracy, 4),
    }

    def verdict(fit: Fit, reason: str) -> Diagnosis:
        listed = [remedy.text for remedy in remedies(spec, fit)]
        return Diagnosis(fit=fit, reason=reason, remedies=listed, evidence=evidence)

    if gap > GAP:
        return verdict(
            Fit.overfitting,
            f"training accuracy {last.accuracy:.3f} exceeds validation accuracy "
            f"{last.val_accuracy:.3f} by {gap:.3f} (more than {GAP})",
        )
    if rise > RISE and train_loss_fell:
        return verdict(
            Fit.overfitting,
            f"validation loss rose {rise:.1%} above its minimum (epoch {best.epoch}) "
            "while the training loss kept falling",
        )
    if last.accuracy < LOW_ACCURACY:
        return verdict(
            Fit.underfitting,
            f"training accuracy is only {last.accuracy:.3f} (below {LOW_ACCURACY}): "
            "the model does not fit even the training data",
        )
    if val_drop > STILL_LEARNING:
        return verdict(
            Fit.underfitting,
            f"validation loss still fell {val_drop:.1%} in the last epoch with a small gap "
            f"({gap:.3f}): the model is still learning",
        )
    return verdict(
        Fit.good_fit,
        f"training and validation accuracy are close ({gap:.3f}) and the validation loss "
        "has levelled off",
    )
