"""The Naive-Bayes weights of ``sequence.nb_weights``: counted from the rows a run fits
on (never its validation rows, never the test split), cached beside the text arrays
without changing their key."""

import dataclasses
import math
import shutil

import numpy as np

from app.specs.spec import SequenceSpec
from tests.support.specs import NB_TRIGRAM_BAG, TINY_TEXT, tiny_spec
from worker.training import nb
from worker.training.pipeline import nb_ratios, split_rows
from worker.training.text import cache_key, load_vectorized

NB_BAG = NB_TRIGRAM_BAG  # the bag of test_export.py and test_pipeline.py: vectorized once a run


def test_document_counts_count_each_review_once_per_class():
    x = np.array([[0, 2, 2, 3], [0, 0, 3, 4], [4, 4, 4, 4]], dtype=np.int32)
    y = np.array([1, 0, 0], dtype=np.float32)
    counts = nb.document_counts(x, y, 5)
    assert counts[1].tolist() == [1, 0, 1, 1, 0]  # the positive review: 0, 2 (twice), 3
    assert counts[0].tolist() == [1, 0, 0, 1, 2]  # 4 holds in both negatives, once each


def test_log_count_ratios_follow_wang_and_manning():
    counts = np.array([[9, 9, 0, 3, 1], [9, 9, 4, 1, 1]])
    ratios = nb.log_count_ratios(counts, alpha=1.0)
    # p = 1 + (4, 1, 1) over |p| = 9; q = 1 + (0, 3, 1) over |q| = 7.
    expected = [
        math.log((5 / 9) / (1 / 7)),
        math.log((2 / 9) / (4 / 7)),
        math.log((2 / 9) / (2 / 7)),
    ]
    np.testing.assert_allclose(ratios[2:], expected, rtol=1e-6)
    assert ratios[:2].tolist() == [0.0, 0.0]  # padding and unknown weigh nothing


def test_movie_counts_count_each_movie_once():
    x = np.array([[2, 2, 3], [2, 4, 0], [3, 3, 3], [4, 0, 0]], dtype=np.int32)
    runs = np.array([7, 7, 8, 9])  # the first two reviews are one movie's
    counts = nb.movie_counts(x, runs, np.arange(4), 5)
    assert counts.tolist() == [2, 0, 1, 2, 2]
    assert nb.movie_counts(x, runs, np.array([2, 3]), 5).tolist() == [1, 0, 0, 1, 1]


def by_hand(x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """The ratios counted in plain Python: a set of ids per review."""
    counts = np.zeros((2, size), np.int64)
    for row, label in zip(x, y, strict=True):
        for token in set(row.tolist()):
            counts[int(label), token] += 1
    return nb.log_count_ratios(counts)


def test_the_ratios_come_from_the_fit_rows_alone(corpus, imdb_path, session_cache_dir):
    # All the training split (a slice would draw its rows by label), half held out.
    spec = tiny_spec(**NB_BAG, train_size=None, validation_split=0.5)
    data = load_vectorized(spec.sequence, imdb_path, session_cache_dir, corpus=corpus)
    fit, val, _ = split_rows(data, spec)
    ratios = nb_ratios(data, spec)
    assert ratios is not None and ratios.shape == (data.vocabulary_size,)
    expected = by_hand(data.x_train[fit], data.y_train[fit], data.vocabulary_size)
    np.testing.assert_allclose(ratios, expected, rtol=1e-6)
    # Validation labels and the whole test split change nothing.
    y_train = data.y_train.copy()
    y_train[val] = 1 - y_train[val]
    tampered = dataclasses.replace(
        data, y_train=y_train, x_test=data.x_test[::-1].copy(), y_test=1 - data.y_test
    )
    np.testing.assert_array_equal(nb_ratios(tampered, spec), ratios)
    # The fit rows' labels do change them.
    y_train[fit[:50]] = 1 - y_train[fit[:50]]
    changed = nb_ratios(dataclasses.replace(data, y_train=y_train), spec)
    assert changed is not None and not np.array_equal(changed, ratios)


def test_the_split_counts_are_cached_beside_the_arrays_less_the_held_out_rows(
    corpus, imdb_path, session_cache_dir, tmp_path
):
    spec = tiny_spec(**NB_BAG, train_size=None, validation_split=0.05)
    # The run's arrays, copied without their counts into a cache of this test's own.
    arrays = load_vectorized(spec.sequence, imdb_path, session_cache_dir, corpus=corpus)
    assert arrays.cache_file is not None
    copy = tmp_path / arrays.cache_file.relative_to(session_cache_dir)
    copy.parent.mkdir(parents=True)
    shutil.copyfile(arrays.cache_file, copy)
    data = load_vectorized(spec.sequence, imdb_path, tmp_path)
    assert data.cache_file == copy
    counts_file = copy.with_suffix(".nb.npz")
    assert not counts_file.exists()
    ratios = nb_ratios(data, spec)
    assert ratios is not None
    assert counts_file.is_file()  # the whole training split's counts, for the next run
    fit, _, _ = split_rows(data, spec)
    direct = nb.log_count_ratios(
        nb.document_counts(data.x_train[fit], data.y_train[fit], data.vocabulary_size)
    )
    np.testing.assert_allclose(ratios, direct, rtol=1e-6)
    again = load_vectorized(spec.sequence, imdb_path, tmp_path)
    assert again.from_cache
    np.testing.assert_array_equal(nb_ratios(again, spec), ratios)


def test_the_options_inside_the_network_keep_the_arrays_cache_key(imdb_path):
    plain = SequenceSpec.model_validate(TINY_TEXT | {"ngrams": 3})
    options = SequenceSpec.model_validate(
        TINY_TEXT | {"ngrams": 3, "binary": True, "nb_weights": True, "min_movies": 5}
    )
    assert cache_key(plain, imdb_path) == cache_key(options, imdb_path)


def test_no_ratios_without_the_option(corpus, imdb_path, session_cache_dir):
    spec = tiny_spec(architecture="dense", pooling="average")
    data = load_vectorized(spec.sequence, imdb_path, session_cache_dir, corpus=corpus)
    assert nb_ratios(data, spec) is None


def test_tokens_held_in_too_few_movies_of_the_fit_rows_weigh_nothing(
    corpus, imdb_path, session_cache_dir
):
    spec = tiny_spec(**NB_BAG, train_size=None, validation_split=0.5)
    spec = spec.model_copy(update={"sequence": spec.sequence.model_copy(update={"min_movies": 3})})
    data = load_vectorized(spec.sequence, imdb_path, session_cache_dir, corpus=corpus)
    fit, val, _ = split_rows(data, spec)
    ratios = nb_ratios(data, spec)
    assert ratios is not None
    # By hand: each fit row's movie is its run of 30 ids in its class (positives first).
    movies: dict[int, set[tuple[int, bool]]] = {}
    for row in fit.tolist():
        movie = (row % 12_500 // 30, row < 12_500)
        for token in set(data.x_train[row].tolist()):
            movies.setdefault(token, set()).add(movie)
    expected = by_hand(data.x_train[fit], data.y_train[fit], data.vocabulary_size)
    rare = [t for t in range(data.vocabulary_size) if len(movies.get(t, ())) < 3]
    expected[rare] = 0.0
    np.testing.assert_allclose(ratios, expected, rtol=1e-6)
    assert 0 < len(rare) < data.vocabulary_size
    # The validation rows' texts change nothing, even when they spread one review's
    # tokens over every held-out movie.
    x_train = data.x_train.copy()
    x_train[val] = data.x_train[fit[0]]
    tampered = dataclasses.replace(data, x_train=x_train, x_test=data.x_test[::-1].copy())
    np.testing.assert_array_equal(nb_ratios(tampered, spec), ratios)
