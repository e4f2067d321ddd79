"""Naive-Bayes log-count ratios (Wang and Manning 2012), the fixed per-token weights of
``sequence.nb_weights``.

For token t, p_t and q_t count the positive and negative reviews that hold t (each
review once, however often t occurs: binarized), plus ``ALPHA``; then

    r_t = log((p_t / |p|_1) / (q_t / |q|_1))

Only the reviews a run fits on count: never its validation rows, never the test
split. The counts of the whole training split are cached beside the text arrays
(same key, so the arrays' cache stays as it was); a run subtracts the counts of the
rows it holds out, or counts its rows directly when it fits on fewer than it holds out.
Padding (id 0) and the unknown token (id 1) get r = 0: they say nothing of a class.
With ``sequence.min_movies``, so do the tokens held in fewer movies than that among the
same rows (``movie_counts``): one movie's names teach only that movie's verdict.
"""

from pathlib import Path

import numpy as np

from worker.training.atomic import save_npz

ALPHA = 1.0
RESERVED_IDS = 2  # padding and unknown
ROWS_PER_CHUNK = 4096  # bounds the sorted copy's memory on long sequences


def document_counts(x: np.ndarray, y: np.ndarray, vocabulary_size: int) -> np.ndarray:
    """``[2, vocabulary_size]``: per token id, the negative (row 0) and positive (row 1)
    reviews among ``x``'s rows (labels ``y``) that hold it."""
    counts = np.zeros((2, vocabulary_size), np.int64)
    for start in range(0, len(x), ROWS_PER_CHUNK):
        ordered = np.sort(x[start : start + ROWS_PER_CHUNK], axis=1)
        first = np.ones(ordered.shape, bool)
        first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # each id once per review
        positive = (np.asarray(y[start : start + ROWS_PER_CHUNK]) == 1)[:, None]
        for label, rows in ((0, first & ~positive), (1, first & positive)):
            counts[label] += np.bincount(ordered[rows], minlength=vocabulary_size)
    return counts


def log_count_ratios(counts: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """r per token id, from :func:`document_counts`; reserved ids get 0."""
    smoothed = counts[:, RESERVED_IDS:].astype(np.float64) + alpha
    shares = smoothed / smoothed.sum(axis=1, keepdims=True)
    ratios = np.zeros(counts.shape[1], np.float32)
    ratios[RESERVED_IDS:] = np.log(shares[1] / shares[0])
    return ratios


def movie_counts(x: np.ndarray, runs: np.ndarray, rows: np.ndarray,
                 vocabulary_size: int) -> np.ndarray:  # fmt: skip
    """Per token id, how many movies (``runs``: a movie per row, ``data.id_runs``)
    among ``x``'s ``rows`` hold it."""
    counts = np.zeros(vocabulary_size, np.int64)
    ordered = rows[np.argsort(runs[rows], kind="stable")]
    for movie in np.split(ordered, np.flatnonzero(np.diff(runs[ordered])) + 1):
        counts[np.unique(x[movie])] += 1
    return counts


def fit_counts(
    x_train: np.ndarray,
    y_train: np.ndarray,
    fit_rows: np.ndarray,
    vocabulary_size: int,
    split_counts: np.ndarray | None = None,
) -> np.ndarray:
    """The document counts of ``fit_rows`` alone: the training split's (``split_counts``,
    cached) less the held-out rows', or counted directly when that is less work."""
    held_out = np.setdiff1d(np.arange(len(y_train)), fit_rows)
    if split_counts is None or len(fit_rows) <= len(held_out):
        return document_counts(x_train[np.sort(fit_rows)], y_train[np.sort(fit_rows)],
                               vocabulary_size)  # fmt: skip
    return split_counts - document_counts(x_train[held_out], y_train[held_out], vocabulary_size)


def load_split_counts(path: Path, x_train: np.ndarray, y_train: np.ndarray,
                      vocabulary_size: int) -> np.ndarray:  # fmt: skip
    """The whole training split's document counts, from ``path`` or counted and saved there."""
    if path.is_file():
        with np.load(path, allow_pickle=False) as saved:
            counts: np.ndarray = saved["counts"]
        if counts.shape == (2, vocabulary_size):
            return counts
    counts = document_counts(x_train, y_train, vocabulary_size)
    save_npz(path, counts=counts)
    return counts
