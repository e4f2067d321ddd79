"""Text to token ids: standardization, vocabulary, padding, and the on-disk cache.

The same Keras layers vectorize the training data and sit inside the exported
SavedModel, so serving never re-implements preprocessing.

Standardization (version ``STANDARDIZATION_VERSION``): lowercase (Unicode),
``<br />`` line breaks become spaces, every character that is not a letter, a
digit or white space becomes a space; tokens are split on white space. The
vocabulary is built from the training split only. Sequences keep the *last*
``max_len`` tokens and are padded with zeros at the front, as Keras's
``pad_sequences`` does by default, so a recurrent layer ends on the review's
last words. Id 0 is padding, id 1 an unknown word.

With ``ngrams=2`` each review's tokens are its words followed by each pair of
adjacent words ("not good"), and the vocabulary ranks words and pairs together
by frequency: the features of the bigram baselines on IMDB (Wang and Manning
2012), for a dense network that pools over them. ``ngrams=3`` adds each run of
three words after the pairs ("not good at").
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from app.jobs.progress import Phase
from app.registry.artifact import RESERVED_TOKENS, token_count
from app.specs.spec import SequenceSpec
from worker.training.atomic import save_npz
from worker.training.data import ImdbCorpus, load_imdb, review_count, source_fingerprint
from worker.training.tracker import Tracker

STANDARDIZATION_VERSION = 1
VECTORIZE_BATCH = 2048
_BREAK = r"<br\s*/?>"
_TF_NOT_WORD = r"[^\p{L}\p{N}\s]"
_PY_NOT_WORD = re.compile(r"[^\w\s]|_")
UNKNOWN_ID = 1  # the vectorizer's id for a word (or n-gram) outside its vocabulary


def standardize(texts: tf.Tensor) -> tf.Tensor:
    """The TensorFlow standardization, used in training and inside the SavedModel."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _BREAK, " ")
    return tf.strings.regex_replace(texts, _TF_NOT_WORD, " ")


def tokenize(text: str) -> list[str]:
    """The same standardization in plain Python, for training word vectors."""
    text = re.sub(_BREAK, " ", text.lower())
    return _PY_NOT_WORD.sub(" ", text).split()


@keras.saving.register_keras_serializable(package="sentiment")
class PadSequencesPre(keras.layers.Layer):
    """Ragged token ids to a dense ``[batch, max_len]`` tensor, like ``pad_sequences``.

    Keeps each row's last ``max_len`` ids and pads with zeros at the front.
    """

    def __init__(self, max_len: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_len = max_len

    def call(self, ragged: tf.RaggedTensor) -> tf.Tensor:
        n = self.max_len
        kept = ragged[:, -n:]
        lengths = kept.row_lengths()
        dense = kept.to_tensor(0, shape=[None, n])
        # Position j of the output takes token j - (n - length) of the row.
        source = tf.range(n, dtype=lengths.dtype)[None, :] - (n - lengths)[:, None]
        shifted = tf.gather(dense, tf.maximum(source, 0), batch_dims=1)
        return tf.where(source >= 0, shifted, tf.zeros_like(shifted))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_len": self.max_len}


def make_vectorizer(
    vocab_size: int, vocabulary: list[str] | None = None, ngrams: int = 1
) -> keras.layers.TextVectorization:
    """A TextVectorization layer with this module's standardization (ragged output)."""
    return keras.layers.TextVectorization(
        max_tokens=vocab_size,
        standardize=standardize,
        split="whitespace",
        ngrams=ngrams if ngrams > 1 else None,
        ragged=True,
        vocabulary=vocabulary,
    )


WORD_BITS = 21  # a word's index in an n-gram's key: three fit in an int64


class NgramIds(tf.Module):
    """Raw texts to the token ids ``make_vectorizer(..., vocabulary, ngrams)`` gives
    (each row: its words' ids, then its pairs', then its triples'), found without
    building n-gram strings: each word is looked up once, and each pair or triple by
    an integer key made of its words' indexes. Serving's text path for bags, where
    joining and hashing every n-gram string cost more than the model.

    Every word of every vocabulary n-gram has an index; a word with none (or a pair
    or triple with such a word) is unknown, id 1, as the vectorizer has it."""

    def __init__(self, vocabulary: list[str], ngrams: int) -> None:
        super().__init__(name="ngram_ids")
        self.ngrams = ngrams
        index: dict[str, int] = {}
        keys: list[list[int]] = [[] for _ in range(ngrams)]
        ids: list[list[int]] = [[] for _ in range(ngrams)]
        for token_id, ngram in enumerate(vocabulary, start=len(RESERVED_TOKENS)):
            words = ngram.split(" ")
            key = 0
            for word in words:
                key = (key << WORD_BITS) | index.setdefault(word, len(index))
            keys[len(words) - 1].append(key)
            ids[len(words) - 1].append(token_id)
        if len(index) >= 1 << WORD_BITS:
            raise ValueError(f"{len(index):,} distinct words: more than n-gram keys can hold")
        self.words = _table(list(index), list(index.values()), tf.string, -1)
        self.tables = [_table(keys[n], ids[n], tf.int64, UNKNOWN_ID) for n in range(ngrams)]

    def __call__(self, texts: tf.Tensor) -> tf.RaggedTensor:
        words = tf.ragged.map_flat_values(self.words.lookup, tf.strings.split(standardize(texts)))
        by_width = [self._ids(words, width, table) for width, table in enumerate(self.tables, 1)]
        return tf.concat(by_width, axis=1) if len(by_width) > 1 else by_width[0]

    @staticmethod
    def _ids(words: tf.RaggedTensor, width: int, table: Any) -> tf.RaggedTensor:
        """Each row's runs of ``width`` words, as ids: a run's key is its words' indexes
        side by side (-1, unknown, where a word has none). On the flat values: slices
        of ragged rows would be ragged arithmetic, which checks their shapes each time."""
        flat, starts = words.flat_values, words.row_starts()
        runs = tf.maximum(words.row_lengths() - (width - 1), 0)
        first = tf.ragged.range(starts, starts + runs)  # where each run starts, by row
        key = tf.gather(flat, first.flat_values)
        known = key >= 0
        for offset in range(1, width):
            word = tf.gather(flat, first.flat_values + offset)
            key = key * (1 << WORD_BITS) + word
            known &= word >= 0
        ids = table.lookup(tf.where(known, key, tf.constant(-1, tf.int64)))
        return first.with_flat_values(ids)


def _table(keys: list[Any], values: list[int], key_dtype: tf.DType, default: int) -> Any:
    initializer = tf.lookup.KeyValueTensorInitializer(
        tf.constant(keys, dtype=key_dtype), tf.constant(values, dtype=tf.int64)
    )
    return tf.lookup.StaticHashTable(initializer, default_value=default)


@dataclass(frozen=True)
class VectorizedImdb:
    """IMDB as token-id arrays for one text setting (vocabulary size, length)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    vocabulary: list[str]  # the words of ids 2, 3, ... (0 padding and 1 unknown excluded)
    from_cache: bool
    cache_file: Path | None = None  # where the arrays are cached; others keyed alike beside it

    @property
    def vocabulary_size(self) -> int:
        return token_count(self.vocabulary)


def vectorize(
    texts: list[str],
    vectorizer: keras.layers.TextVectorization,
    max_len: int,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Token ids for ``texts``; ``on_batch`` learns the count of texts done so far."""
    pad = PadSequencesPre(max_len)
    arrays = []
    for start, batch in _batches(texts):
        arrays.append(pad(vectorizer(batch)).numpy().astype(np.int32))
        if on_batch is not None:
            on_batch(start + len(arrays[-1]))
    return np.concatenate(arrays) if arrays else np.zeros((0, max_len), np.int32)


def _batches(texts: list[str]) -> Iterator[tuple[int, tf.Tensor]]:
    for start in range(0, len(texts), VECTORIZE_BATCH):
        yield start, tf.constant(texts[start : start + VECTORIZE_BATCH], dtype=tf.string)


def learn_vocabulary(
    vectorizer: keras.layers.TextVectorization,
    texts: list[str],
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """``vectorizer.adapt(texts)``, a batch at a time so the run can follow it."""
    vectorizer.reset_state()
    for start, batch in _batches(texts):
        vectorizer.update_state(batch)
        if on_batch is not None:
            on_batch(start + int(batch.shape[0]))
    vectorizer.finalize_state()


def cache_key(sequence: SequenceSpec, imdb_path: Path) -> str:
    shape = {
        "standardization": STANDARDIZATION_VERSION,
        "vocab_size": sequence.vocab_size,
        "max_len": sequence.max_len,
        "source": source_fingerprint(imdb_path),
    }
    if sequence.ngrams > 1:  # words-only arrays keep the keys they always had
        shape["ngrams"] = sequence.ngrams
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:20]


def load_vectorized(
    sequence: SequenceSpec,
    imdb_path: Path,
    cache_dir: Path,
    corpus: ImdbCorpus | None = None,
    tracker: Tracker | None = None,
) -> VectorizedImdb:
    """Token-id arrays for the whole train and test splits, from the cache when it has them.

    The cache key holds everything that shapes the arrays, so a change of
    vocabulary size, length, standardization or dataset copy makes new arrays.
    Building them is two phases of ``tracker``: reading the reviews, then
    vectorizing (learning the vocabulary from the training split, then turning
    both splits into ids: three passes over 25,000 reviews).
    """
    tracker = tracker or Tracker()
    path = Path(cache_dir) / "text" / f"imdb-{cache_key(sequence, imdb_path)}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as saved:
            return VectorizedImdb(
                x_train=saved["x_train"],
                y_train=saved["y_train"],
                x_test=saved["x_test"],
                y_test=saved["y_test"],
                vocabulary=saved["vocabulary"].tolist(),
                from_cache=True,
                cache_file=path,
            )
    if corpus is None:
        tracker.start(Phase.reading_data, review_count(include_unsup=False), "reviews")
        corpus = load_imdb(imdb_path, on_read=tracker.advance)
    train, test = corpus.train.texts, corpus.test.texts
    tracker.start(Phase.vectorizing, 2 * len(train) + len(test), "reviews")
    vectorizer = make_vectorizer(sequence.vocab_size, ngrams=sequence.ngrams)
    learn_vocabulary(vectorizer, train, on_batch=tracker.advance)
    vocabulary = [str(word) for word in vectorizer.get_vocabulary()[2:]]
    x_train = vectorize(
        train, vectorizer, sequence.max_len, lambda n: tracker.advance(len(train) + n)
    )
    x_test = vectorize(
        test, vectorizer, sequence.max_len, lambda n: tracker.advance(2 * len(train) + n)
    )
    data = VectorizedImdb(
        x_train=x_train,
        y_train=corpus.train.labels.astype(np.float32),
        x_test=x_test,
        y_test=corpus.test.labels.astype(np.float32),
        vocabulary=vocabulary,
        from_cache=False,
        cache_file=path,
    )
    _save_atomically(path, data)
    return data


def _save_atomically(path: Path, data: VectorizedImdb) -> None:
    save_npz(
        path,
        x_train=data.x_train,
        y_train=data.y_train,
        x_test=data.x_test,
        y_test=data.y_test,
        vocabulary=np.array(data.vocabulary, dtype=str),
    )
