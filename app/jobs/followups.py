"""Next-step advice: from a finished job's diagnosis, concrete next specs that apply
the course's remedies (docs/diagnosis.md, "Next steps", states the rules).

- Overfitting: dropout 0.2 to 0.5; L2 0.001; fewer units; stop early.
- Underfitting: more units; more layers; more epochs; trainable embeddings.
- Good fit: train longer with early stopping; a bigger network with dropout.

Each suggestion changes one thing (two at most), so its effect can be read off the
curves. A change that would leave the spec as it is, or break its bounds, is left out.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.core.errors import Invalid
from app.jobs.overrides import merged, nested
from app.jobs.spec import RECURRENT, TrainingSpec


@dataclass(frozen=True)
class Suggestion:
    id: str
    rationale: str
    changes: dict[str, Any]  # dotted field -> new value
    spec: TrainingSpec


def _more_dropout(current: float) -> float:
    return 0.2 if current < 0.2 else round(min(0.5, current + 0.2), 2)


def _candidates(spec: TrainingSpec, fit: str) -> list[tuple[str, str, dict[str, Any]]]:
    recurrent = spec.architecture in RECURRENT
    ideas: list[tuple[str, str, dict[str, Any]]] = []
    if fit == "overfitting":
        dropout = {"dropout": _more_dropout(spec.dropout)}
        if recurrent:
            dropout["recurrent_dropout"] = _more_dropout(spec.recurrent_dropout)
        ideas.append(("more-dropout", "Dropout (0.2 to 0.5) keeps the network from "
                      "relying on a few memorized patterns.", dropout))  # fmt: skip
        l2 = 0.001 if spec.regularization.l2 == 0 else min(0.01, spec.regularization.l2 * 10)
        ideas.append(("l2-regularization", "L2 weight regularization penalizes large "
                      "weights, which memorizing needs.", {"regularization.l2": l2}))  # fmt: skip
        smaller: dict[str, Any]
        if recurrent:
            smaller = {"units": max(4, spec.units // 2)}
        elif spec.hidden_layers:
            smaller = {"hidden_layers": [max(1, width // 2) for width in spec.hidden_layers]}
        else:
            smaller = {"embedding.dim": max(2, spec.embedding.dim // 2)}
        ideas.append(("smaller-network", "A smaller network has less capacity to memorize "
                      "the training reviews.", smaller))  # fmt: skip
        if spec.early_stopping is None:
            ideas.append(("early-stopping", "Stop when the validation loss stops improving, "
                          "and keep the best epoch's weights.",
                          {"early_stopping": {"monitor": "val_loss", "patience": 2,
                                              "restore_best_weights": True}}))  # fmt: skip
    elif fit == "underfitting":
        if recurrent:
            ideas.append(("more-units", "More units give each layer more capacity.",
                          {"units": min(1024, spec.units * 2)}))  # fmt: skip
            ideas.append(("more-layers", "A second recurrent layer learns patterns of patterns.",
                          {"recurrent_layers": min(4, spec.recurrent_layers + 1)}))  # fmt: skip
        else:
            wider = [min(4096, width * 2) for width in spec.hidden_layers] or [32]
            ideas.append(("more-units", "Wider (or a first) hidden layer gives the network "
                          "more capacity.", {"hidden_layers": wider}))  # fmt: skip
            ideas.append(("more-layers", "Another hidden layer learns combinations of features.",
                          {"hidden_layers": [*spec.hidden_layers, 16][:8]}))  # fmt: skip
        ideas.append(("more-epochs", "Both curves were still improving: train longer.",
                      {"epochs": min(200, spec.epochs * 2)}))  # fmt: skip
        if not spec.embedding.trainable:
            ideas.append(("trainable-embeddings", "Let training adjust the word vectors to "
                          "this task.", {"embedding.trainable": True}))  # fmt: skip
    else:
        ideas.append(("longer-with-early-stopping", "The fit is good: train longer and let "
                      "early stopping pick the best epoch.",
                      {"epochs": min(200, spec.epochs * 2),
                       "early_stopping": {"monitor": "val_loss", "patience": 2,
                                          "restore_best_weights": True}}))  # fmt: skip
        bigger: dict[str, Any] = (
            {"units": min(1024, spec.units * 2), "dropout": _more_dropout(spec.dropout)}
            if recurrent
            else {"hidden_layers": [min(4096, w * 2) for w in spec.hidden_layers] or [32],
                  "dropout": _more_dropout(spec.dropout)}
        )  # fmt: skip
        ideas.append(("bigger-with-dropout", "A bigger network, held back by dropout, may "
                      "find more.", bigger))  # fmt: skip
    return ideas


def suggestions(spec: TrainingSpec, diagnosis: dict[str, Any] | None) -> list[Suggestion]:
    if not diagnosis:
        return []
    out = []
    current = spec.model_dump(mode="json")
    for key, rationale, changes in _candidates(spec, str(diagnosis.get("fit"))):
        try:
            name = f"{spec.name} + {key}"[:100]
            proposed = merged(spec, nested(changes) | {"name": name})
        except ValidationError:
            continue  # out of the spec's bounds: not a sensible next step
        if proposed.model_dump(mode="json") | {"name": spec.name} == current:
            continue  # changes nothing
        out.append(Suggestion(key, rationale, changes, proposed))
    return out


def choose(spec: TrainingSpec, diagnosis: dict[str, Any] | None, wanted: str) -> Suggestion:
    """The follow-up named ``wanted``; ``Invalid`` naming the ones on offer otherwise."""
    offered = suggestions(spec, diagnosis)
    for suggestion in offered:
        if suggestion.id == wanted:
            return suggestion
    raise Invalid(
        "invalid_request",
        f"expected one of this job's follow-ups {[s.id for s in offered]}; received {wanted!r}",
        [{"field": "suggestion", "message": "not a follow-up of this job", "received": wanted}],
    )
