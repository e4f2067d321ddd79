"""The real IMDB corpus, read once for the training tests."""

import pytest

from worker.training.data import ImdbCorpus, load_imdb


@pytest.fixture(scope="session")
def corpus(imdb_path) -> ImdbCorpus:
    return load_imdb(imdb_path)
