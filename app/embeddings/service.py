"""Word vectors from ``imdb-word2vec`` or a model version's learned embedding layer,
their nearest neighbours by cosine similarity, and a 2-D PCA projection.

A model version's vectors are read from its SavedModel's checkpoint (the variable
of shape vocabulary x width) and its exported vocabulary; no graph is loaded.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from app.core.cache import BoundedCache
from app.core.errors import Conflict, ErrorCode, ModelNotFound, NotFound
from app.core.settings import Settings
from app.registry import artifact, repository, store


@dataclass(frozen=True)
class WordVectors:
    source: str
    words: list[str]
    index: dict[str, int]
    unit: np.ndarray  # rows scaled to length 1 (zero rows stay zero)
    raw: np.ndarray

    @classmethod
    def of(cls, source: str, words: list[str], matrix: np.ndarray) -> "WordVectors":
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        return cls(source, words, {w: i for i, w in enumerate(words)}, unit, matrix)

    def row(self, word: str) -> int:
        found = self.index.get(word)
        if found is None:
            raise NotFound(
                ErrorCode.WORD_NOT_FOUND,
                f"{word!r} is not in the vocabulary of {self.source} "
                f"({len(self.words):,} words; lowercase, as the reviews are standardized).",
            )
        return found


VectorsCache = BoundedCache[tuple[str, str], WordVectors]


def vectors_cache() -> VectorsCache:
    """The vectors an API process keeps: a million-word vocabulary is hundreds of MB."""
    return BoundedCache(3)


def word2vec(dim: int, settings: Settings, cache: VectorsCache) -> WordVectors:
    # The training library's cache layout (NumPy only: no TensorFlow is loaded).
    from worker.training.word2vec_cache import (
        read_vectors,
        word2vec_cache_path,
        word2vec_store_key,
    )

    models = store.open_store(settings, patient=False)
    if models.remote:  # the copy the worker hosts share, via this host's cache: no dataset here
        key = word2vec_store_key(dim)
        path = settings.models_cache / key
        if not path.is_file():
            models.fetch_shared(key, path)
    else:
        path = word2vec_cache_path(dim, settings.imdb_path, settings.cache_dir)
    if not path.is_file():
        raise Conflict(
            ErrorCode.VECTORS_NOT_TRAINED,
            f"The {dim}-d imdb-word2vec vectors are not trained yet: they are made by the "
            f"first job that uses them (embedding.pretrained 'imdb-word2vec', dim {dim}).",
        )

    def load() -> WordVectors:
        return WordVectors.of(f"imdb-word2vec ({dim}-d)", *read_vectors(path))

    return cache.get_or_load(("word2vec", str(path)), load)


def model_embedding(
    session: Session, version: int, settings: Settings, cache: VectorsCache
) -> WordVectors:
    row = repository.get(session, version)
    if row is None:
        raise ModelNotFound(version)
    if row.members:
        members = ", ".join(str(member["version"]) for member in row.members)
        raise Conflict(
            ErrorCode.ENSEMBLE_HAS_NO_EMBEDDING,
            f"Model version {version} is an ensemble of versions {members}: each member "
            "has its own embedding; ask for one of them.",
        )
    # From a bucket: via this host's cache.
    folder = store.open_store(settings, patient=False).open_version(row.path)
    vocabulary = folder / artifact.VOCABULARY
    if not vocabulary.is_file():
        raise Conflict(
            ErrorCode.VOCABULARY_NOT_EXPORTED,
            f"Model version {version} was exported without its vocabulary file; "
            "versions trained since the embedding explorer exists have it.",
        )
    return cache.get_or_load(
        ("model", str(folder)), lambda: _read_model(folder, vocabulary, version)
    )


def _read_model(folder: Path, vocabulary: Path, version: int) -> WordVectors:
    import tensorflow as tf

    words = artifact.tokens(vocabulary)
    reader = tf.train.load_checkpoint(str(folder / artifact.VARIABLES))
    shapes = reader.get_variable_to_shape_map()
    found = [name for name, shape in shapes.items() if len(shape) == 2 and shape[0] == len(words)]
    if not found:
        raise Conflict(ErrorCode.NO_EMBEDDING, f"Model version {version} has no embedding layer.")
    matrix = reader.get_tensor(found[0]).astype(np.float32)
    return WordVectors.of(f"model version {version}", words, matrix)


def neighbors(vectors: WordVectors, word: str, k: int) -> list[tuple[str, float]]:
    row = vectors.row(word)
    similarity = vectors.unit @ vectors.unit[row]
    similarity[row] = -np.inf
    reserved = len(artifact.RESERVED_TOKENS)
    if tuple(vectors.words[:reserved]) == artifact.RESERVED_TOKENS:
        similarity[:reserved] = -np.inf  # not words
    best = np.argpartition(-similarity, min(k, len(similarity) - 1))[:k]
    ranked = best[np.argsort(-similarity[best])]
    return [(vectors.words[i], float(similarity[i])) for i in ranked if np.isfinite(similarity[i])]


def projection(vectors: WordVectors, words: list[str]) -> list[tuple[str, float, float]]:
    """The words' vectors on their first two principal components."""
    missing = [word for word in words if word not in vectors.index]
    if missing:
        raise NotFound(
            ErrorCode.WORD_NOT_FOUND,
            f"Not in the vocabulary of {vectors.source}: {missing} "
            "(lowercase, as the reviews are standardized).",
        )
    points = vectors.raw[[vectors.index[word] for word in words]].astype(np.float64)
    centered = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    coordinates = centered @ components[:2].T
    if coordinates.shape[1] < 2:  # fewer words than two components
        coordinates = np.pad(coordinates, ((0, 0), (0, 2 - coordinates.shape[1])))
    return [(word, float(x), float(y)) for word, (x, y) in zip(words, coordinates, strict=True)]
