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
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def write_vocabulary(folder: Path, vocabulary: list[str]) -> None:
    (folder / VOCABULARY).write_text("\n".join(vocabulary) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says; ``files`` maps each file's relative path to its sha256."""

    files: dict[str, str]
    fields: dict[str, Any]  # everything, as written

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        """Raises OSError, ValueError or KeyError for a missing or malformed manifest."""
        fields = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
        return cls(files=dict(fields["files"]), fields=fields)

    @staticmethod
    def write(folder: Path, fields: dict[str, Any]) -> None:
        (Path(folder) / MANIFEST).write_text(json.dumps(fields, indent=2) + "\n", encoding="utf-8")


def manifest_fields(
    name: str,
    created_at: str,
    versions: dict[str, str],
    spec: dict[str, Any],
    vocabulary: list[str],
    metadata: dict[str, Any],
    files: dict[str, str],
) -> dict[str, Any]:
    """A manifest's contents, in the order it is written."""
    return {
        "format": MANIFEST_FORMAT,
        "name": name,
        "created_at": created_at,
        **versions,
        "signature": SIGNATURE_DESCRIPTION,
        "spec": spec,
        "vocabulary_size": token_count(vocabulary),
        **metadata,
        "files": files,
    }
