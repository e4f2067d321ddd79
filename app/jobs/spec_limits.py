"""What this server admits: the operator's limits on a spec, and its vectors files.

The spec's bounds (``app/jobs/spec.py``) are what the service can train at all;
these settings let an operator lower them for a shared server. Pretrained vectors
are named from the server's own list (the files in ``SENTIMENT_VECTORS_DIR``),
never by a path. A spec that breaks either gets a 422 naming each field, the
limit or the choices, and the value received.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import Invalid, field_summary
from app.core.settings import Settings
from app.jobs.spec import IMDB_WORD2VEC, RECURRENT, VECTORS_NAME, TrainingSpec

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


def enforce(spec: TrainingSpec, settings: Settings) -> None:
    """Raise ``Invalid`` listing every field this server does not admit."""
    details = over_limits(spec, settings) + unknown_vectors(spec, settings)
    if details:
        summary = field_summary(details, most=None)
        raise Invalid(
            "spec_not_admitted", f"This server does not admit the spec: {summary}", details
        )
