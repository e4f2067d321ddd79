import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from app.specs.spec import SequenceSpec
from tests.support.specs import TINY_TEXT
from worker.training.text import (
    PadSequencesPre,
    cache_key,
    load_vectorized,
    make_vectorizer,
    standardize,
    tokenize,
)

SAMPLES = [
    "This movie was GREAT!<br /><br />I loved it.",
    "Worst. Film. Ever... (1/10)",
    "Café crème, naïve — and über-cool",
    "don't stop_me now",
    "",
]


def test_standardization_lowercases_and_strips_breaks_and_punctuation():
    out = [text.decode() for text in standardize(tf.constant(SAMPLES)).numpy()]
    assert out[0].split() == ["this", "movie", "was", "great", "i", "loved", "it"]
    assert out[1].split() == ["worst", "film", "ever", "1", "10"]
    assert out[2].split() == ["café", "crème", "naïve", "and", "über", "cool"]


def test_python_tokenizer_matches_the_tensorflow_standardization():
    tensorflow_tokens = [
        text.decode().split() for text in standardize(tf.constant(SAMPLES)).numpy()
    ]
    assert [tokenize(text) for text in SAMPLES] == tensorflow_tokens


def test_padding_and_truncation_are_at_the_front_like_pad_sequences():
    ragged = tf.ragged.constant([[5, 6, 7], [1, 2, 3, 4, 5, 6, 7], []], dtype=tf.int64)
    padded = PadSequencesPre(5)(ragged).numpy()
    assert padded.tolist() == [[0, 0, 5, 6, 7], [3, 4, 5, 6, 7], [0, 0, 0, 0, 0]]


def test_a_vectorizer_built_from_a_saved_vocabulary_gives_the_same_ids():
    adapted = make_vectorizer(50)
    adapted.adapt(tf.constant(SAMPLES * 3))
    vocabulary = [str(word) for word in adapted.get_vocabulary()[2:]]
    rebuilt = make_vectorizer(len(vocabulary) + 2, vocabulary)
    texts = tf.constant([*SAMPLES, "an unseen zebra"])
    assert adapted(texts).to_list() == rebuilt(texts).to_list()
    assert rebuilt(tf.constant(["zebra"])).to_list() == [[1]]  # unknown word


def test_vectorized_arrays_are_cached_and_reused(corpus, imdb_path, tmp_path):
    sequence = SequenceSpec.model_validate(TINY_TEXT)
    first = load_vectorized(sequence, imdb_path, tmp_path, corpus=corpus)
    second = load_vectorized(sequence, imdb_path, tmp_path)
    assert (first.from_cache, second.from_cache) == (False, True)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(first, field), getattr(second, field))
    assert first.vocabulary == second.vocabulary
    assert first.x_train.shape == (25_000, 32) and first.x_test.shape == (25_000, 32)
    assert first.vocabulary_size == 2000
    assert first.x_train.max() < 2000
    assert first.y_train.mean() == 0.5


def test_the_cache_key_holds_everything_that_shapes_the_arrays(imdb_path):
    base = SequenceSpec(max_len=32, vocab_size=2000)
    keys = {
        cache_key(base, imdb_path),
        cache_key(SequenceSpec(max_len=33, vocab_size=2000), imdb_path),
        cache_key(SequenceSpec(max_len=32, vocab_size=2001), imdb_path),
    }
    assert len(keys) == 3
    assert cache_key(base, imdb_path) == cache_key(
        SequenceSpec(max_len=32, vocab_size=2000), imdb_path
    )


def test_the_vocabulary_comes_from_the_training_split_only(corpus, imdb_path, tmp_path):
    marker = "zzqtestonlyword"
    test_split = dataclasses.replace(
        corpus.test, texts=[f"{text} {marker}" for text in corpus.test.texts]
    )
    tampered = dataclasses.replace(corpus, test=test_split)
    data = load_vectorized(
        SequenceSpec.model_validate(TINY_TEXT), imdb_path, tmp_path, corpus=tampered
    )
    assert marker not in data.vocabulary
    assert (data.x_test[:, -1] == 1).all()  # the marker ends every test review, as unknown


@pytest.mark.parametrize("text", ["", "!!!", "<br />"])
def test_texts_without_words_become_all_padding(text):
    vectorizer = make_vectorizer(10, ["good", "bad"])
    assert PadSequencesPre(4)(vectorizer(tf.constant([text]))).numpy().tolist() == [[0, 0, 0, 0]]


def test_bigrams_are_tokens_after_the_words_and_share_the_vocabulary():
    adapted = make_vectorizer(200, ngrams=2)
    adapted.adapt(tf.constant(["not good at all", "not good", "very good"] * 3))
    vocabulary = [str(word) for word in adapted.get_vocabulary()[2:]]
    assert "not good" in vocabulary and "good" in vocabulary
    ids = adapted(tf.constant(["not good"])).to_list()[0]
    assert len(ids) == 3  # "not", "good", then "not good"
    assert ids[2] == adapted.get_vocabulary().index("not good")
    rebuilt = make_vectorizer(len(vocabulary) + 2, vocabulary, ngrams=2)
    assert (
        rebuilt(tf.constant(["not good at all"])).to_list()
        == adapted(tf.constant(["not good at all"])).to_list()
    )


def test_bigram_arrays_have_their_own_cache_entry(corpus, imdb_path, session_cache_dir):
    words = SequenceSpec.model_validate(TINY_TEXT | {"max_len": 64, "vocab_size": 5000})
    pairs = SequenceSpec.model_validate(words.model_dump() | {"ngrams": 2})
    assert cache_key(words, imdb_path) != cache_key(pairs, imdb_path)
    # The bigram bag of tests/worker/training/test_export.py: vectorized once a run.
    data = load_vectorized(pairs, imdb_path, session_cache_dir, corpus=corpus)
    assert any(" " in token for token in data.vocabulary[:500])  # frequent pairs rank high


def test_trigrams_follow_the_words_and_bigrams_and_share_the_vocabulary():
    adapted = make_vectorizer(200, ngrams=3)
    adapted.adapt(tf.constant(["not good at all", "not good at", "very good"] * 3))
    vocabulary = adapted.get_vocabulary()
    assert {"not good at", "good at all", "not good", "good"} <= set(vocabulary)
    ids = adapted(tf.constant(["not good at"])).to_list()[0]
    # The words, then the pairs, then the one run of three.
    assert [vocabulary[i] for i in ids] == [
        "not", "good", "at", "not good", "good at", "not good at",
    ]  # fmt: skip
    rebuilt = make_vectorizer(len(vocabulary), [str(w) for w in vocabulary[2:]], ngrams=3)
    texts = tf.constant(["not good at all", "very good at all", ""])
    assert rebuilt(texts).to_list() == adapted(texts).to_list()


def test_trigram_arrays_have_their_own_cache_entry(corpus, imdb_path, session_cache_dir):
    pairs = SequenceSpec.model_validate(TINY_TEXT | {"ngrams": 2})
    runs = SequenceSpec.model_validate(
        TINY_TEXT | {"max_len": 96, "vocab_size": 20_000, "ngrams": 3}
    )
    assert cache_key(pairs, imdb_path) != cache_key(
        SequenceSpec.model_validate(TINY_TEXT | {"ngrams": 3}), imdb_path
    )
    # The trigram bag of test_export.py and test_nb.py: vectorized once a run.
    data = load_vectorized(runs, imdb_path, session_cache_dir, corpus=corpus)
    trigrams = [token for token in data.vocabulary if token.count(" ") == 2]
    assert trigrams and all(len(token.split()) == 3 for token in trigrams)
    assert data.x_train.shape == (25_000, 96)
    # A short review keeps every n-gram: n words, n - 1 pairs and n - 2 runs of three.
    row, text = next(
        (i, text) for i, text in enumerate(corpus.train.texts) if len(tokenize(text)) <= 33
    )
    assert (data.x_train[row] > 0).sum() == 3 * len(tokenize(text)) - 3
