"""A run stopped at any point of its slow preparation stops there and leaves the
shared caches whole or absent (real reviews, real Keras and gensim)."""

import numpy as np
import pytest

from app.jobs.progress import Phase
from app.specs.spec import SequenceSpec
from tests.support.specs import TINY_TEXT
from worker.training.embeddings import train_word2vec
from worker.training.text import load_vectorized
from worker.training.tracker import Tracker, TrainingStopped


def stop_after(checks: int) -> Tracker:
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > checks

    return Tracker(should_stop, check_every=0.0)


@pytest.mark.parametrize("checks", [1, 2, 6, 12])
def test_vectorizing_stops_at_once_and_leaves_no_partial_cache(checks, corpus, imdb_path, tmp_path):
    sequence = SequenceSpec.model_validate(TINY_TEXT)
    tracker = stop_after(checks)
    with pytest.raises(TrainingStopped):
        load_vectorized(sequence, imdb_path, tmp_path, corpus=corpus, tracker=tracker)
    reading = tracker.snapshot()
    assert reading is not None and reading.phase == Phase.vectorizing
    assert reading.total is not None and reading.done < reading.total  # stopped midway
    assert list(tmp_path.rglob("*.npz")) == [] and list(tmp_path.rglob(".*")) == []

    data = load_vectorized(sequence, imdb_path, tmp_path, corpus=corpus)  # then whole
    assert not data.from_cache and len(data.x_train) == 25_000
    [cached] = tmp_path.rglob("*.npz")
    with np.load(cached) as saved:
        assert np.array_equal(saved["x_train"], data.x_train)


@pytest.mark.parametrize("checks", [3, 40, 80])
def test_word_vector_training_stops_within_its_passes(checks, corpus):
    texts = corpus.train.texts[:4000]
    tracker = stop_after(checks)
    with pytest.raises(TrainingStopped):
        train_word2vec(texts, dim=8, tracker=tracker)
    reading = tracker.snapshot()
    assert reading is not None and reading.phase == Phase.training_word_vectors
    assert reading.total is not None and reading.done < reading.total
