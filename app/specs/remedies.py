"""The course's remedies for each fit, fitted to a spec: one rule set for the diagnosis
(its ``remedies`` texts) and for the follow-ups (their concrete next specs).

docs/diagnosis.md, "The remedies" and "Next steps", states the rules:

- Overfitting: more dropout (0.2 to 0.5); L2 0.001 (or ten times more, at most 0.01); a smaller
  network; early stopping that restores the best weights.
- Underfitting: more units; more layers; more epochs; trainable embeddings.
- Good fit: train longer with early stopping; a bigger network with more dropout.

Each remedy is one change (two at most), so its effect can be read off the curves,
and lists only what the spec does not have yet. A remedy the spec already applies
(dropout already 0.5, L2 at its cap, early stopping on, trainable embeddings, epochs at
the bound) is left out, and so is one that would break the spec's bounds: the
diagnosis never suggests a change its spec already has.

This module imports no web framework and no TensorFlow: the worker's diagnosis and
the API's follow-ups both use it.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from app.specs.overrides import merged, nested
from app.specs.spec import RECURRENT, TrainingSpec

MAX_DROPOUT = 0.5
FIRST_DROPOUT = 0.2
FIRST_L2 = 0.001
MAX_L2 = 0.01
EARLY_STOPPING = {"monitor": "val_loss", "patience": 2, "restore_best_weights": True}


class Fit(StrEnum):
    underfitting = "underfitting"
    good_fit = "good_fit"
    overfitting = "overfitting"


@dataclass(frozen=True)
class Remedy:
    id: str
    text: str  # the course's advice, as the diagnosis lists it
    rationale: str  # why it may help, as the follow-up explains it
    changes: dict[str, Any]  # dotted field -> new value; only what the spec lacks
    spec: TrainingSpec  # the spec with the changes, named "<name> + <id>"


@dataclass(frozen=True)
class _Rule:
    id: str
    text: str
    rationale: str
    changes: dict[str, Any]


def remedies(spec: TrainingSpec, fit: str) -> list[Remedy]:
    """The remedies for ``fit`` that would change ``spec``, in the course's order, each
    with its next spec. An unknown fit has none."""
    current = spec.model_dump(mode="json")
    out = []
    for rule in _rules(spec, fit):
        try:
            name = f"{spec.name} + {rule.id}"[:100]
            proposed = merged(spec, nested(rule.changes) | {"name": name})
        except ValidationError:
            continue  # out of the spec's bounds: not a sensible next step
        if proposed.model_dump(mode="json") | {"name": spec.name} == current:
            continue  # the spec has it already
        out.append(Remedy(rule.id, rule.text, rule.rationale, rule.changes, proposed))
    return out


def _raised_dropout(current: float) -> float | None:
    """0.2, or 0.2 more, at most 0.5; None if that would not raise it."""
    raised = FIRST_DROPOUT if current < FIRST_DROPOUT else round(min(MAX_DROPOUT, current + 0.2), 2)
    return raised if raised > current else None


def _raised_l2(current: float) -> float | None:
    """0.001, or ten times more, at most 0.01; None if that would not raise it."""
    raised = FIRST_L2 if current == 0 else float(f"{min(MAX_L2, current * 10):.6g}")
    return raised if raised > current else None


def _wider(spec: TrainingSpec) -> dict[str, Any]:
    """Twice the recurrent units; for a dense network twice each hidden layer, or a first
    hidden layer of 32. Empty if already at the bounds."""
    if spec.architecture in RECURRENT:
        units = min(1024, spec.units * 2)
        return {"units": units} if units > spec.units else {}
    wider = [min(4096, width * 2) for width in spec.hidden_layers] or [32]
    return {"hidden_layers": wider} if wider != spec.hidden_layers else {}


def _narrower(spec: TrainingSpec) -> dict[str, Any]:
    """Half the recurrent units (at least 4); for a dense network half each hidden
    layer, or half the embedding width if it has none. Empty if it cannot shrink."""
    if spec.architecture in RECURRENT:
        units = max(4, spec.units // 2)
        return {"units": units} if units < spec.units else {}
    if spec.hidden_layers:
        narrower = [max(1, width // 2) for width in spec.hidden_layers]
        return {"hidden_layers": narrower} if narrower != spec.hidden_layers else {}
    dim = max(2, spec.embedding.dim // 2)
    return {"embedding.dim": dim} if dim < spec.embedding.dim else {}


def _deeper(spec: TrainingSpec) -> dict[str, Any]:
    """One more recurrent layer (at most 4); for a dense network another hidden layer of
    16 (at most 8). Empty if already at the bound."""
    if spec.architecture in RECURRENT:
        return {"recurrent_layers": spec.recurrent_layers + 1} if spec.recurrent_layers < 4 else {}
    return {"hidden_layers": [*spec.hidden_layers, 16]} if len(spec.hidden_layers) < 8 else {}


def _longer(spec: TrainingSpec) -> dict[str, Any]:
    """Twice the epochs, at most 200. Empty if already at the bound."""
    return {"epochs": min(200, spec.epochs * 2)} if spec.epochs < 200 else {}


def _rules(spec: TrainingSpec, fit: str) -> Iterator[_Rule]:
    if fit == Fit.overfitting:
        yield from _overfitting(spec)
    elif fit == Fit.underfitting:
        yield from _underfitting(spec)
    elif fit == Fit.good_fit:
        yield from _good_fit(spec)


def _overfitting(spec: TrainingSpec) -> Iterator[_Rule]:
    recurrent = spec.architecture in RECURRENT
    fields = ("dropout", "recurrent_dropout") if recurrent else ("dropout",)
    dropout = {
        name: raised
        for name in fields
        if (raised := _raised_dropout(getattr(spec, name))) is not None
    }
    if dropout:
        if all(getattr(spec, name) == 0 for name in fields):
            also = " (and recurrent_dropout for recurrent layers)" if recurrent else ""
            text = f"Add dropout, 0.2 to 0.5{also}."
        else:
            values = ", ".join(f"{name} = {value}" for name, value in dropout.items())
            text = f"Raise the dropout toward 0.5: {values}."
        yield _Rule(
            "more-dropout",
            text,
            "Dropout (0.2 to 0.5) keeps the network from relying on a few memorized patterns.",
            dropout,
        )
    current_l2 = spec.regularization.l2
    if (l2 := _raised_l2(current_l2)) is not None:
        yield _Rule(
            "l2-regularization",
            "Add L2 (or L1) weight regularization, for example regularization.l2 = 0.001."
            if current_l2 == 0
            else f"Strengthen the L2 weight regularization: regularization.l2 = {l2}.",
            "L2 weight regularization penalizes large weights, which memorizing needs.",
            {"regularization.l2": l2},
        )
    if smaller := _narrower(spec):
        yield _Rule(
            "smaller-network",
            "Use a smaller network: fewer units or fewer layers.",
            "A smaller network has less capacity to memorize the training reviews.",
            smaller,
        )
    stopping: dict[str, Any] = {}
    if spec.early_stopping is None:
        stopping = {"early_stopping": dict(EARLY_STOPPING)}
    elif not spec.early_stopping.restore_best_weights:
        stopping = {"early_stopping.restore_best_weights": True}
    if stopping:
        yield _Rule(
            "early-stopping",
            "Stop earlier: early_stopping with restore_best_weights.",
            "Stop when the validation loss stops improving, and keep the best epoch's weights.",
            stopping,
        )


def _underfitting(spec: TrainingSpec) -> Iterator[_Rule]:
    recurrent = spec.architecture in RECURRENT
    if wider := _wider(spec):
        yield _Rule(
            "more-units",
            "Use a bigger model: more units.",
            "More units give each layer more capacity."
            if recurrent
            else "Wider (or a first) hidden layer gives the network more capacity.",
            wider,
        )
    if deeper := _deeper(spec):
        yield _Rule(
            "more-layers",
            "Use a bigger model: more layers.",
            "A second recurrent layer learns patterns of patterns."
            if recurrent
            else "Another hidden layer learns combinations of features.",
            deeper,
        )
    if longer := _longer(spec):
        yield _Rule(
            "more-epochs",
            "Train longer: more epochs.",
            "Both curves were still improving: train longer.",
            longer,
        )
    if not spec.embedding.trainable:
        yield _Rule(
            "trainable-embeddings",
            "Let the embeddings train (embedding.trainable = true).",
            "Let training adjust the word vectors to this task.",
            {"embedding.trainable": True},
        )


def _good_fit(spec: TrainingSpec) -> Iterator[_Rule]:
    if longer := _longer(spec):
        if spec.early_stopping is None:
            longer["early_stopping"] = dict(EARLY_STOPPING)
        elif not spec.early_stopping.restore_best_weights:
            longer["early_stopping.restore_best_weights"] = True
        yield _Rule(
            "longer-with-early-stopping",
            "Train longer and let early stopping pick the best epoch.",
            "The fit is good: train longer and let early stopping pick the best epoch.",
            longer,
        )
    if bigger := _wider(spec):
        if (dropout := _raised_dropout(spec.dropout)) is not None:
            bigger["dropout"] = dropout
        yield _Rule(
            "bigger-with-dropout",
            "Try a bigger network, held back by dropout.",
            "A bigger network, held back by dropout, may find more.",
            bigger,
        )
