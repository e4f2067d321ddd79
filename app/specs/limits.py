"""What this server admits: the operator's limits on a spec, what training it would
cost, and its vectors files.

The spec's bounds (``app/specs/spec.py``) are what the service can train at all;
these settings let an operator lower them for a shared server. On top of the
per-field limits, the whole network is admitted by its real cost, estimated from
the spec without allocating anything (``network.py``): its parameters and the
memory a training step needs. Pretrained vectors are named from the server's own
list (the files in ``SENTIMENT_VECTORS_DIR``), never by a path. A spec that breaks
any of these gets ``Invalid`` naming each field, the limit or the choices, and the
value received.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import ErrorCode, FieldDetail, Invalid, field_summary
from app.core.settings import Settings
from app.specs import network
from app.specs.spec import IMDB_WORD2VEC, RECURRENT, VECTORS_NAME, TrainingSpec

ALL_TRAINING_REVIEWS = 25_000


@dataclass(frozen=True)
class Check:
    field: str
    value: int
    limit: int
    setting: str
    unit: str = ""  # what is counted, when it is not the field's own value


def _checks(spec: TrainingSpec, settings: Settings) -> list[Check]:
    checks = [
        Check("epochs", spec.epochs, settings.max_epochs, "MAX_EPOCHS"),
        Check("recurrent_layers", spec.recurrent_layers, settings.max_layers, "MAX_LAYERS"),
        Check("hidden_layers", len(spec.hidden_layers), settings.max_layers, "MAX_LAYERS"),
        Check("sequence.vocab_size", spec.sequence.vocab_size, settings.max_vocab_size,
              "MAX_VOCAB_SIZE"),
        Check("sequence.max_len", spec.sequence.max_len, settings.max_sequence_length,
              "MAX_SEQUENCE_LENGTH"),
        Check("embedding.dim", spec.embedding.dim, settings.max_embedding_dim,
              "MAX_EMBEDDING_DIM"),
        Check("batch_size", spec.batch_size, settings.max_batch_size, "MAX_BATCH_SIZE"),
        Check("embedding.dim", spec.sequence.vocab_size * spec.embedding.dim,
              settings.max_embedding_parameters, "MAX_EMBEDDING_PARAMETERS",
              " embedding weights (sequence.vocab_size x embedding.dim)"),
        Check("train_size", spec.train_size or ALL_TRAINING_REVIEWS, settings.max_train_size,
              "MAX_TRAIN_SIZE"),
    ]  # fmt: skip
    if spec.architecture in RECURRENT:  # dense networks have no recurrent units
        checks.append(Check("units", spec.units, settings.max_units, "MAX_UNITS"))
    checks += [
        Check(f"hidden_layers.{i}", width, settings.max_units, "MAX_UNITS")
        for i, width in enumerate(spec.hidden_layers)
    ]
    return checks


def over_limits(spec: TrainingSpec, settings: Settings) -> list[dict[str, Any]]:
    """Each field over its limit, as a 422 detail."""
    details = []
    for check in _checks(spec, settings):
        if check.value > check.limit:
            received: Any = check.value
            if check.field == "train_size" and spec.train_size is None:
                received = None  # null trains on all 25,000 reviews
            details.append(
                {
                    "field": check.field,
                    "message": f"at most {check.limit}{check.unit} on this server "
                    f"(SENTIMENT_{check.setting}); received {check.value}",
                    "received": received,
                }
            )
    return details


def over_cost(spec: TrainingSpec, settings: Settings) -> list[FieldDetail]:
    """The fields that drive an estimate over this server's limits, as 422 details."""
    cost = network.training_cost(spec)
    details: list[FieldDetail] = []
    total, most = cost.parameters.total, settings.max_parameters
    if total > most:
        largest = cost.largest
        message = (
            f"the network would have {total:,} parameters, over this server's limit of "
            f"{most:,} (SENTIMENT_MAX_PARAMETERS); its largest layer, {largest.name}, has "
            f"{largest.parameters:,}"
        )
        details += _driven_by(spec, largest.fields, message)
    memory, limit = cost.memory_bytes, int(settings.max_training_memory)
    if memory > limit:
        if cost.activations_bytes >= cost.weights_bytes + cost.optimizer_bytes:
            drivers = ("batch_size", "sequence.max_len", *cost.widest.fields)
            part = f"{_size(cost.activations_bytes)} of it the activations of one batch"
        else:
            drivers = (*cost.largest.fields, "optimizer.name")
            part = f"{_size(cost.weights_bytes + cost.optimizer_bytes)} of it weights, "
            part += "gradients and optimizer state"
        message = (
            f"training would need about {_size(memory)} of memory ({part}), over this "
            f"server's limit of {_size(limit)} (SENTIMENT_MAX_TRAINING_MEMORY)"
        )
        details += _driven_by(spec, drivers, message)
    return details


def _driven_by(spec: TrainingSpec, fields: tuple[str, ...], message: str) -> list[FieldDetail]:
    values = spec.model_dump(mode="json")
    unique = list(dict.fromkeys(fields)) or ["(spec)"]
    return [{"field": field, "message": message, "received": _value(values, field)}
            for field in unique]  # fmt: skip


def _value(values: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(values, list):
            values = values[int(part)] if part.isdigit() and int(part) < len(values) else None
        elif isinstance(values, dict):
            values = values.get(part)
        else:
            return None
    return values


def _size(count: int) -> str:
    """Bytes for people: 1.5 GiB, 640 MiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} bytes"


def vectors_available(vectors_dir: Path) -> list[str]:
    """The names a spec may give as ``embedding.pretrained``."""
    files = (
        sorted(p.name for p in vectors_dir.glob("*") if p.is_file()) if vectors_dir.is_dir() else []
    )
    return [IMDB_WORD2VEC, *(name for name in files if VECTORS_NAME.match(name))]


def unknown_vectors(spec: TrainingSpec, settings: Settings) -> list[dict[str, Any]]:
    name = spec.embedding.pretrained
    if name is None:
        return []
    available = vectors_available(settings.vectors_dir)
    if name in available or f"{name}.txt" in available:
        return []
    return [
        {
            "field": "embedding.pretrained",
            "message": f"expected null or one of this server's vectors {available}; "
            f"received {name!r}",
            "received": name,
        }
    ]


def enforce(spec: TrainingSpec, settings: Settings, what: str = "the spec") -> None:
    """Raise ``Invalid`` listing every field this server does not admit; the message
    names ``what`` (a sweep's point, say)."""
    details = over_limits(spec, settings) or over_cost(spec, settings)
    details += unknown_vectors(spec, settings)
    if details:
        summary = field_summary(details, most=None)
        raise Invalid(
            ErrorCode.SPEC_NOT_ADMITTED, f"This server does not admit {what}: {summary}", details
        )
