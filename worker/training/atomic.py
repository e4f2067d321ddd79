"""The caches' one way to write a file: whole or not at all.

Caches are shared by concurrent jobs and by the API's embedding explorer: a reader
must never see half a file, and a run stopped mid-write must leave no partial one
behind (only the temporary, which is removed).
"""

import os
import tempfile
from pathlib import Path

import numpy as np


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez(path, **arrays)``, written to a temporary beside ``path`` and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, allow_pickle=False, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
