"""The artifact store: SavedModel folders under the models store root.

<root>/imdb-sentiment/<version>/   the layout TensorFlow Serving reads
<root>/.staging/<job id>/          exports in progress (never served)
<root>/.checkpoints/<job id>/      a running job's checkpoints (worker/training/checkpoints.py)

What a version folder holds is ``artifact.py``'s.
"""

import hashlib
import os
import shutil
from pathlib import Path

from app.registry.artifact import MANIFEST, Manifest

MODEL_NAME = "imdb-sentiment"
STAGING = ".staging"
CHECKPOINTS = ".checkpoints"


def staging_path(root: Path, job_id: str) -> Path:
    return Path(root) / STAGING / job_id


def checkpoint_path(root: Path, job_id: str) -> Path:
    return Path(root) / CHECKPOINTS / job_id


def checkpointed_jobs(root: Path) -> list[str]:
    """The ids of the jobs that have a checkpoint folder."""
    folder = Path(root) / CHECKPOINTS
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def relative_version_path(version: int) -> str:
    return f"{MODEL_NAME}/{version}"


def resolve(root: Path, relative: str) -> Path:
    """An artifact path from its registry row, refusing anything outside the root."""
    root = Path(root).resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError(f"artifact path {relative!r} is outside the models store")
    return path


def clear(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def publish(staged: Path, root: Path, version: int) -> Path:
    """Move a complete export into its version folder (a rename: atomic on one filesystem).

    A folder already there has no registry row (its registration failed before
    commit; version numbers are never reused), so it is replaced.
    """
    final = Path(root) / relative_version_path(version)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)
    return final


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
