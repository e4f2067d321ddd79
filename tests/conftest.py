"""Shared fixtures: the real IMDB data and settings that point at it.

The IMDB data comes from ``SENTIMENT_IMDB_PATH`` (``make data`` puts it at
``data/aclImdb``). Where it is missing the tests that need it skip with a
message, except under CI (``CI=true``) or ``SENTIMENT_REQUIRE_SERVICES=1``,
where its absence is a failure.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.settings import Settings
from tests.support.object_store import S3Server, running_s3_server
from tests.support.skips import missing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def imdb_path() -> Path:
    path = Settings().imdb_path
    if not path.exists():
        missing(
            f"the IMDB data is not at {str(path)!r}; run `make data` or set SENTIMENT_IMDB_PATH"
        )
    return path


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caches shared by the tests of one run (vectorized text), fresh for every run."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def settings(imdb_path: Path, session_data_dir: Path, tmp_path: Path) -> Settings:
    return Settings(
        imdb_path=imdb_path,
        data_dir=session_data_dir,
        vectors_dir=tmp_path / "vectors",
        models_store=tmp_path / "models_store",
    )


@pytest.fixture(scope="session")
def exported(
    imdb_path: Path, session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A real SavedModel: a tiny GRU trained on real reviews and exported as the worker
    does; tests register copies of it (tests/support/serving.py)."""
    from tests.support.specs import tiny_spec
    from worker.training.export import export_saved_model
    from worker.training.pipeline import train

    settings = Settings(imdb_path=imdb_path, data_dir=session_data_dir)
    result = train(tiny_spec(architecture="gru", epochs=1), settings)
    folder = tmp_path_factory.mktemp("exported") / "model"
    export_saved_model(result.model, result.vocabulary, result.spec, {}, folder)
    return folder


@pytest.fixture(scope="session")
def exported_dense(
    imdb_path: Path, session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A second real SavedModel, unlike ``exported``: a tiny bag-of-words dense network
    (an ensemble needs members that differ)."""
    from tests.support.specs import tiny_spec
    from worker.training.export import export_saved_model
    from worker.training.pipeline import train

    settings = Settings(imdb_path=imdb_path, data_dir=session_data_dir)
    spec = tiny_spec(name="tiny-dense", architecture="dense", pooling="average", seed=7)
    result = train(spec, settings)
    folder = tmp_path_factory.mktemp("exported-dense") / "model"
    export_saved_model(result.model, result.vocabulary, result.spec, {}, folder)
    return folder


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The real S3 server of this run (SeaweedFS on loopback); each test makes its own
    bucket with ``s3_server.new_bucket()``."""
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_settings(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings whose models store is a fresh bucket on the test S3 server (the AWS
    variables set for this test), with a download cache in ``tmp_path``."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return Settings(
        models_store=f"s3://{s3_server.new_bucket()}/models",
        models_cache=tmp_path / "cache",
        store_retry_seconds=5,
    )
