"""Specs made from other specs: a recipe with overrides, a sweep's point, a follow-up.

Overrides are a partial spec: nested objects merge field by field, anything else
replaces. ``{"optimizer": {"learning_rate": 0.01}}`` keeps the optimizer's name.
Dotted paths (``"regularization.l2"``) name the same fields for sweeps.
"""

from typing import Any

from pydantic import ValidationError

from app.core.errors import ErrorCode, field_errors, invalid_fields
from app.specs.spec import TrainingSpec


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """``{"regularization.l2": 0.001}`` as ``{"regularization": {"l2": 0.001}}``."""
    out: dict[str, Any] = {}
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def merged(spec: TrainingSpec, overrides: dict[str, Any]) -> TrainingSpec:
    """``spec`` with ``overrides`` applied; pydantic's ValidationError if that breaks it."""
    return TrainingSpec.model_validate(merge(spec.model_dump(mode="json"), overrides))


def with_overrides(spec: TrainingSpec, overrides: dict[str, Any], what: str) -> TrainingSpec:
    """``spec`` with ``overrides`` applied and validated; ``Invalid`` names ``what`` (the
    recipe, the sweep point) and each bad field."""
    try:
        return merged(spec, overrides)
    except ValidationError as error:
        details = field_errors(error.errors())
        raise invalid_fields(
            ErrorCode.INVALID_REQUEST, f"{what} is not a valid spec", details
        ) from error
