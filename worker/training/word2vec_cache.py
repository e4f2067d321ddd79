"""The ``imdb-word2vec`` cache: where the trained vectors of one width and one copy of
the dataset are kept, and their file format (``words`` and ``vectors`` arrays in an
``.npz``). The training library writes it; the API's embedding explorer reads it,
so this module imports no TensorFlow.
"""

import hashlib
from pathlib import Path

import numpy as np

from worker.training.atomic import save_npz
from worker.training.data import source_fingerprint

WORD2VEC_VERSION = 1  # bump when the training recipe changes: old caches are not read


def word2vec_cache_path(dim: int, imdb_path: Path, cache_dir: Path) -> Path:
    key = hashlib.sha256(
        f"{WORD2VEC_VERSION}|{dim}|{source_fingerprint(imdb_path)}".encode()
    ).hexdigest()[:20]
    return Path(cache_dir) / "vectors" / f"imdb-word2vec-{dim}d-{key}.npz"


def word2vec_store_key(dim: int) -> str:
    """Where a bucket models store keeps them for every host (hosts on one bucket read
    the official dataset; a host's own cache key names its copy of it)."""
    return f".vectors/imdb-word2vec-{dim}d-v{WORD2VEC_VERSION}.npz"


def read_vectors(path: Path) -> tuple[list[str], np.ndarray]:
    """The words and their vectors (one row per word), in the order they were saved."""
    with np.load(path, allow_pickle=False) as saved:
        return saved["words"].tolist(), saved["vectors"]


def write_vectors(path: Path, vectors: dict[str, np.ndarray]) -> None:
    """Atomically: a reader never sees half a file."""
    save_npz(
        path,
        words=np.array(list(vectors), dtype=str),
        vectors=np.stack(list(vectors.values())).astype(np.float32),
    )
