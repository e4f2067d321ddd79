"""Pretrained word vectors for the Embedding layer.

``imdb-word2vec``: word2vec (CBOW) vectors trained once on the training and
unlabelled reviews, never the test set, then cached per dimension and dataset
copy. GloVe: any GloVe-format text file (``word v1 v2 ... vd`` per line) in the
server's vectors folder, named by the spec. Words the vectors don't cover start
at zero, as in Keras's guide to pretrained embeddings.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.jobs.spec import IMDB_WORD2VEC, EmbeddingSpec
from app.registry.artifact import token_count
from worker.training.data import load_imdb
from worker.training.text import tokenize
from worker.training.word2vec_cache import read_vectors, word2vec_cache_path, write_vectors

WORD2VEC_EPOCHS = 5
WORD2VEC_MIN_COUNT = 5


class VectorsError(ValueError):
    """A vectors file is missing or does not fit the spec."""


@dataclass(frozen=True)
class EmbeddingMatrix:
    matrix: np.ndarray  # [vocabulary size, dim], row 0 padding, row 1 unknown
    covered: int  # vocabulary words that have a pretrained vector
    vocabulary_words: int  # vocabulary words, padding and unknown excluded

    @property
    def coverage(self) -> float:
        return self.covered / self.vocabulary_words if self.vocabulary_words else 0.0


def train_word2vec(
    texts: list[str], dim: int, seed: int = 1, workers: int = 2
) -> dict[str, np.ndarray]:
    """Train word2vec on the given reviews; returns word -> vector."""
    from gensim.models import Word2Vec

    sentences = [tokenize(text) for text in texts]
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=5,
        min_count=WORD2VEC_MIN_COUNT,
        workers=workers,
        seed=seed,
        epochs=WORD2VEC_EPOCHS,
    )
    return {word: model.wv[word] for word in model.wv.index_to_key}


def imdb_word2vec(dim: int, imdb_path: Path, cache_dir: Path) -> dict[str, np.ndarray]:
    """The ``imdb-word2vec`` vectors: trained on first use, then read from the cache."""
    path = word2vec_cache_path(dim, imdb_path, cache_dir)
    if path.is_file():
        words, matrix = read_vectors(path)
        return dict(zip(words, matrix, strict=True))
    corpus = load_imdb(imdb_path, include_unsup=True)
    vectors = train_word2vec(corpus.train.texts + corpus.unsup, dim)
    write_vectors(path, vectors)
    return vectors


def read_glove(path: Path, dim: int, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
    """Read a GloVe-format text file, keeping only ``wanted`` words when given."""
    vectors: dict[str, np.ndarray] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if wanted is not None and word not in wanted:
                continue
            values = rest.split()
            if len(values) != dim:
                raise VectorsError(
                    f"{path.name} line {line_number}: expected the word and {dim} numbers "
                    f"(the spec's embedding.dim), found {len(values)} numbers"
                )
            try:
                vectors[word] = np.asarray(values, dtype=np.float32)
            except ValueError as error:
                raise VectorsError(f"{path.name} line {line_number}: {error}") from error
    return vectors


def resolve_vectors_file(name: str, vectors_dir: Path) -> Path:
    """A vectors name to a file inside ``vectors_dir`` (``name`` or ``name.txt``)."""
    # The spec only admits plain file names, so the file is always inside the folder
    # (a symlink there, placed by the operator, may point elsewhere).
    root = Path(vectors_dir)
    for candidate in (root / name, root / f"{name}.txt"):
        if candidate.is_file():
            return candidate
    available = sorted(p.name for p in root.glob("*.txt")) if root.is_dir() else []
    raise VectorsError(
        f"no vectors file named {name!r} in the vectors folder (SENTIMENT_VECTORS_DIR); "
        f"expected 'imdb-word2vec', null, or one of {available or 'no files there yet'}"
    )


def build_embedding_matrix(
    spec: EmbeddingSpec,
    vocabulary: list[str],
    imdb_path: Path,
    cache_dir: Path,
    vectors_dir: Path,
) -> EmbeddingMatrix | None:
    """The initial Embedding weights for ``spec``, or None for a random start."""
    if spec.pretrained is None:
        return None
    if spec.pretrained == IMDB_WORD2VEC:
        vectors = imdb_word2vec(spec.dim, imdb_path, cache_dir)
    else:
        path = resolve_vectors_file(spec.pretrained, vectors_dir)
        vectors = read_glove(path, spec.dim, wanted=set(vocabulary))
    return matrix_for(vocabulary, vectors, spec.dim)


def matrix_for(vocabulary: list[str], vectors: dict[str, np.ndarray], dim: int) -> EmbeddingMatrix:
    matrix = np.zeros((token_count(vocabulary), dim), dtype=np.float32)
    covered = 0
    for index, word in enumerate(vocabulary, start=2):
        vector = vectors.get(word)
        if vector is not None:
            if vector.shape != (dim,):
                raise VectorsError(
                    f"the vectors are {vector.shape[0]}-dimensional; the spec's embedding.dim "
                    f"is {dim}. Set embedding.dim to {vector.shape[0]}."
                )
            matrix[index] = vector
            covered += 1
    return EmbeddingMatrix(matrix=matrix, covered=covered, vocabulary_words=len(vocabulary))
