"""Next-step advice: from a finished job's diagnosis, concrete next specs that apply
the course's remedies (docs/diagnosis.md, "Next steps", states the rules).

The rules are those of the diagnosis's remedies (``app.specs.remedies``): each
follow-up is one remedy for the job's fit and spec, with the spec it leads to. A
remedy the spec already applies, or one that would break its bounds, is not offered.
"""

from typing import Any

from app.core.errors import ErrorCode, Invalid
from app.specs.remedies import Remedy, remedies
from app.specs.spec import TrainingSpec

Suggestion = Remedy  # a follow-up is a remedy: id, rationale, dotted changes, next spec


def suggestions(spec: TrainingSpec, diagnosis: dict[str, Any] | None) -> list[Suggestion]:
    if not diagnosis:
        return []
    return remedies(spec, str(diagnosis.get("fit")))


def choose(spec: TrainingSpec, diagnosis: dict[str, Any] | None, wanted: str) -> Suggestion:
    """The follow-up named ``wanted``; ``Invalid`` naming the ones on offer otherwise."""
    offered = suggestions(spec, diagnosis)
    for suggestion in offered:
        if suggestion.id == wanted:
            return suggestion
    raise Invalid(
        ErrorCode.INVALID_REQUEST,
        f"expected one of this job's follow-ups {[s.id for s in offered]}; received {wanted!r}",
        [{"field": "suggestion", "message": "not a follow-up of this job", "received": wanted}],
    )
