"""Pretrained word vectors for the Embedding layer.

``imdb-word2vec``: word2vec (CBOW) vectors trained once on the training and
unlabelled reviews, never the test set, then cached per dimension and dataset
copy. GloVe: any GloVe-format text file (``word v1 v2 ... vd`` per line) in the
server's vectors folder, named by the spec. Words the vectors don't cover start
at zero, as in Keras's guide to pretrained embeddings.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.jobs.progress import Phase
from app.registry.artifact import token_count
from app.registry.store import ModelStore
from app.specs.spec import IMDB_WORD2VEC, EmbeddingSpec
from worker.training.data import load_imdb, review_count
from worker.training.text import tokenize
from worker.training.tracker import Tracker
from worker.training.word2vec_cache import (
    read_vectors,
    word2vec_cache_path,
    word2vec_store_key,
    write_vectors,
)

WORD2VEC_EPOCHS = 5
WORD2VEC_MIN_COUNT = 5
SENTENCE_REPORT = 200  # sentences between two progress reports (and stop checks)


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


class _Sentences:
    """The tokenized reviews, as gensim reads them: once to count the words, then once
    per epoch. Each pass reports its progress, and a pass ends at once when the run
    must stop (gensim then finishes its epochs on nothing, and the caller raises)."""

    def __init__(self, sentences: list[list[str]], tracker: Tracker, first_pass: int) -> None:
        self.sentences, self.tracker, self.passes = sentences, tracker, first_pass

    def __iter__(self) -> Iterator[list[str]]:
        base = self.passes * len(self.sentences)
        self.passes += 1
        for index, sentence in enumerate(self.sentences):
            if index % SENTENCE_REPORT == 0:
                self.tracker.update(base + index)
                if self.tracker.stopping():
                    return
            yield sentence


def train_word2vec(
    texts: list[str], dim: int, seed: int = 1, workers: int = 2, tracker: Tracker | None = None
) -> dict[str, np.ndarray]:
    """Train word2vec on the given reviews; returns word -> vector. A phase of
    ``tracker``, counted in sentences over all passes (tokenizing, the word count
    and each epoch), and a stop point throughout."""
    from gensim.models import Word2Vec

    tracker = tracker or Tracker()
    # Passes over the reviews: tokenizing, counting the words, then each epoch.
    tracker.start(Phase.training_word_vectors, len(texts) * (WORD2VEC_EPOCHS + 2), "sentences")
    tokenized = []
    for text in texts:
        tokenized.append(tokenize(text))
        if len(tokenized) % SENTENCE_REPORT == 0:
            tracker.advance(len(tokenized))
    sentences = _Sentences(tokenized, tracker, first_pass=1)
    model = Word2Vec(
        vector_size=dim,
        window=5,
        min_count=WORD2VEC_MIN_COUNT,
        workers=workers,
        seed=seed,
        epochs=WORD2VEC_EPOCHS,
    )
    try:
        model.build_vocab(sentences)
        tracker.check()
        model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    except RuntimeError:  # gensim's complaint about a pass cut short, when stopping
        tracker.check()
        raise
    tracker.check()
    return {word: model.wv[word] for word in model.wv.index_to_key}


def imdb_word2vec(
    dim: int,
    imdb_path: Path,
    cache_dir: Path,
    tracker: Tracker | None = None,
    models: ModelStore | None = None,
) -> dict[str, np.ndarray]:
    """The ``imdb-word2vec`` vectors: trained on first use, then read from the cache
    (written whole or not at all: a stopped run leaves no file). With a bucket models
    store, the first host to train them shares them there and the others download them."""
    path = word2vec_cache_path(dim, imdb_path, cache_dir)
    key = word2vec_store_key(dim)
    if path.is_file() or (models is not None and models.fetch_shared(key, path)):
        words, matrix = read_vectors(path)
        return dict(zip(words, matrix, strict=True))
    tracker = tracker or Tracker()
    tracker.start(Phase.reading_data, review_count(include_unsup=True), "reviews")
    corpus = load_imdb(imdb_path, include_unsup=True, on_read=tracker.advance)
    vectors = train_word2vec(corpus.train.texts + corpus.unsup, dim, tracker=tracker)
    write_vectors(path, vectors)
    if models is not None:
        models.share(key, path)
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
    tracker: Tracker | None = None,
    models: ModelStore | None = None,
) -> EmbeddingMatrix | None:
    """The initial Embedding weights for ``spec``, or None for a random start."""
    if spec.pretrained is None:
        return None
    if spec.pretrained == IMDB_WORD2VEC:
        vectors = imdb_word2vec(spec.dim, imdb_path, cache_dir, tracker, models)
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
