"""The real IMDB corpus, read once for the training tests, and the run's text cache."""

from pathlib import Path

import pytest

from app.core.settings import Settings
from worker.training.data import ImdbCorpus, load_imdb


@pytest.fixture(scope="session")
def corpus(imdb_path) -> ImdbCorpus:
    return load_imdb(imdb_path)


@pytest.fixture(scope="session")
def session_cache_dir(session_data_dir: Path) -> Path:
    """The run's text-array cache, where the pipeline's runs keep theirs: a test that does
    not check the caching itself vectorizes there, once per run for each sequence spec."""
    return Settings(data_dir=session_data_dir).cache_dir
