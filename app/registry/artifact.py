"""The model artifact's format, in one place: what an exported version holds and how
it is read. Export (``worker/training/export.py``) writes it; the store, the
predict loader and the embedding explorer read it. No TensorFlow here.

<version folder>/
    saved_model.pb, variables/   the SavedModel: ``serving_default`` takes ``text``
                                 (a string vector of raw reviews) and answers
                                 ``probability`` (a float vector, P(positive))
    vocabulary.txt               the words of token ids 2, 3, ... one per line
    manifest.json                the spec, metrics and versions it was made with,
                                 and the sha256 of every other file

An ensemble's folder is the same SavedModel (same signature, input and output: its
members' graphs and weights are inside it), with no ``vocabulary.txt`` (each member
keeps its own vocabulary inside): its manifest's ``spec`` is the ensemble spec
(``kind`` "ensemble"), ``vocabulary_size`` is null, and ``members`` lists each
member's version, weight, name and manifest sha256 (:func:`member`).
"""

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

MODEL_NAME = "imdb-sentiment"  # versions are <store>/<MODEL_NAME>/<version>/
MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.txt"
VARIABLES = "variables/variables"  # the checkpoint prefix inside a SavedModel
MANIFEST_FORMAT = 1

SIGNATURE = "serving_default"
INPUT = "text"
OUTPUT = "probability"
SIGNATURE_DESCRIPTION = {
    "name": SIGNATURE,
    "inputs": {INPUT: "string[batch]: raw review texts"},
    "outputs": {OUTPUT: "float32[batch]: P(positive)"},
}

# Since format 1's models of 2026-12: each token's contribution to the score
# (``worker/training/explain.py``). An earlier version lacks it.
EXPLAIN_SIGNATURE = "explain"
EXPLAIN_OUTPUTS = {
    "tokens": "string[batch, tokens]: each scored word or n-gram ('' past the row's end)",
    "starts": "int32[batch, tokens]: its first word's index in the text (-1 past the end)",
    "widths": "int32[batch, tokens]: its words (0 past the end)",
    "contributions": "float32[batch, tokens]: its share of the logit",
    "base_value": "float32[batch]: the logit the contributions add to",
    "logit": "float32[batch]: log(p / (1 - p)) of the probability",
    "probability": "float32[batch]: P(positive)",
    "word_count": "int32[batch]: the text's words",
    "method": "string[batch]: 'exact' or 'integrated_gradients'",
}

# Token ids 0 and 1 are reserved before the vocabulary's words.
PADDING = "[padding]"
UNKNOWN = "[unknown]"
RESERVED_TOKENS = (PADDING, UNKNOWN)


def token_count(vocabulary: list[str]) -> int:
    """Token ids a vocabulary of these words takes: the reserved ones, then the words."""
    return len(RESERVED_TOKENS) + len(vocabulary)


def tokens(vocabulary_file: Path) -> list[str]:
    """Every token by id, the reserved ones first, from an exported ``vocabulary.txt``."""
    return [*RESERVED_TOKENS, *vocabulary_file.read_text(encoding="utf-8").splitlines()]


MEMBERS = "members"  # the manifest key of an ensemble's members


def member(version: int, weight: float, name: str, manifest_sha256: str) -> dict[str, Any]:
    """One member of an ensemble, as its manifest lists it."""
    return {"version": version, "weight": weight, "name": name, "manifest_sha256": manifest_sha256}


def write_vocabulary(folder: Path, vocabulary: list[str]) -> None:
    (folder / VOCABULARY).write_text("\n".join(vocabulary) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: what the model is, what made it, and the sha256 of every other
    file by its path in the folder (``files``)."""

    name: str
    created_at: str
    tensorflow_version: str
    keras_version: str
    spec: dict[str, Any]
    vocabulary_size: int | None  # token ids, the reserved ones included; None: an ensemble
    files: dict[str, str]
    metadata: dict[str, Any] = field(default_factory=dict)  # metrics, parameters, job, members
    format: int = MANIFEST_FORMAT

    def as_json(self) -> dict[str, Any]:
        """The manifest as written: the metadata's keys at the top level."""
        return {
            "format": self.format,
            "name": self.name,
            "created_at": self.created_at,
            "tensorflow_version": self.tensorflow_version,
            "keras_version": self.keras_version,
            "signature": SIGNATURE_DESCRIPTION,
            "spec": self.spec,
            "vocabulary_size": self.vocabulary_size,
            **self.metadata,
            "files": self.files,
        }

    def write(self, folder: Path) -> None:
        text = json.dumps(self.as_json(), indent=2) + "\n"
        (Path(folder) / MANIFEST).write_text(text, encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        """Raises OSError, ValueError or KeyError for a missing or malformed manifest."""
        written = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)} - {"metadata"}
        return cls(
            **{name: written[name] for name in known if name != "format"},
            format=int(written["format"]),
            metadata={
                key: value
                for key, value in written.items()
                if key not in known and key != "signature"
            },
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (the manifest excluded), by relative path."""
    return {
        path.relative_to(folder).as_posix(): sha256_of(path)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def verify_checksums(folder: Path) -> list[str]:
    """The files whose sha256 differs from the manifest, or that are missing or extra."""
    expected = Manifest.read(folder).files
    actual = file_checksums(folder)
    return sorted(
        name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name)
    )
