"""The service's configuration: one class, read from ``SENTIMENT_*`` environment variables."""

import os
from pathlib import Path
from typing import Literal

from pydantic import ByteSize, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


class Settings(BaseSettings):
    """Every setting has an embedded default that works on a fresh machine.

    Relative paths are taken from the working directory (the project root when
    started through the Makefile). Each process reads them once, where it starts
    (``create_app``, the worker, a command), and hands them on.
    """

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", env_file=".env", extra="ignore")

    imdb_path: Path = Field(
        Path("data/aclImdb"),
        description="The IMDB data: an extracted aclImdb/ folder or the aclImdb_v1.tar.gz archive.",
    )
    imdb_url: str = Field(IMDB_URL, description="Where the setup step downloads the archive from.")
    imdb_archive_candidates: list[Path] = Field(
        [Path("data/aclImdb_v1.tar.gz"), Path("../shared/data/aclImdb_v1.tar.gz")],
        description="Local copies of the archive the setup step extracts before it downloads.",
    )
    data_dir: Path = Field(
        Path("data"), description="Caches: vectorized text, trained word vectors."
    )
    vectors_dir: Path = Field(
        Path("data/vectors"),
        description="GloVe-format vector files a spec may name (glove.6B.100d.txt).",
    )
    models_store: str = Field(
        "models_store",
        description="Where published versions and checkpoints live: a folder, or an S3 "
        "bucket as s3://bucket/prefix (endpoint, region and credentials from the AWS "
        "variables, e.g. AWS_ENDPOINT_URL_S3). Hosts that share nothing else share it.",
    )
    store_endpoint_url: str | None = Field(
        None, description="The S3 endpoint, when not in AWS_ENDPOINT_URL_S3 (or AWS's own)."
    )
    store_retry_seconds: float = Field(
        120.0,
        ge=0.0,
        le=3600.0,
        description="How long a call to an S3 models store is retried (with backoff) "
        "before it fails: an upload outlives a blip.",
    )
    models_cache: Path = Field(
        Path("data/models-cache"),
        description="This host's copies of versions from an s3:// models store, and its "
        "exports and checkpoints before they upload.",
    )
    models_cache_bytes: ByteSize = Field(
        ByteSize(2 * 1024**3),
        ge=0,
        description="Most bytes of versions the cache keeps (least recently used go "
        "first; never the champion). Accepts units: 500MB, 2GiB.",
    )
    database_url: str = Field(
        "sqlite:///data/sentiment.sqlite",
        description="SQLAlchemy URL: SQLite by default, postgresql+psycopg://... in production.",
    )
    broker_url: str = Field(
        "sqla+sqlite:///data/broker.sqlite",
        description="Celery broker: a SQLite file by default (no server), or redis://...",
    )
    queue: str = Field("training", description="The Celery queue training jobs go to.")
    host: str = Field("127.0.0.1", description="Where `make up` serves the API.")
    port: int = Field(8000, ge=1, le=65535, description="The API's port under `make up`.")
    worker_concurrency: int = Field(
        1, ge=1, le=64, description="Jobs one worker trains at once (TensorFlow uses every core)."
    )
    predict_max_texts: int = Field(256, ge=1, le=10_000, description="Texts per predict request.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, le=1 << 30, description="Largest request body accepted (413)."
    )
    batch_max_size: int = Field(
        64, ge=1, le=4096, description="Most texts the batcher puts in one model call."
    )
    batch_max_wait_ms: float = Field(
        5.0,
        ge=0.0,
        le=1000.0,
        description="Longest a text may wait for others to join its batch (it waits only "
        "when arrivals would fill the batch sooner).",
    )
    predict_max_wait_ms: float = Field(
        500.0,
        ge=1.0,
        le=60_000.0,
        description="Longest a predict request may expect to wait for its model call: one "
        "that would wait longer is refused at once (503 overloaded, Retry-After), and an "
        "admitted one whose last texts could no longer start by then (from its arrival) "
        "is dropped before any is scored. At 250, a bulk client of the course's LSTM "
        "(the predict benchmark's (b)) had most of its requests refused in one run of "
        "three (docs/benchmarks.md).",
    )
    inference_threads: int = Field(
        1,
        ge=1,
        le=16,
        description="Model calls one API process runs at once. With two processes on two "
        "cores, one each serves the most reviews (docs/benchmarks.md).",
    )
    inference_intra_op_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="Threads TensorFlow gives one model call in the API (0: its default, "
        "every core). One, with several calls at once, serves the most reviews.",
    )
    api_processes: int = Field(
        2,
        ge=1,
        le=32,
        description="API processes `make up` serves on one port: two serve the most "
        "predictions on two cores (docs/benchmarks.md), each holding the champion.",
    )
    heartbeat_seconds: float = Field(
        5.0, gt=0.0, le=300.0, description="How often a training job renews its lease."
    )
    cancel_poll_seconds: float = Field(
        0.5, gt=0.0, le=60.0, description="How often a running job looks for a cancel request."
    )
    stale_after_seconds: float = Field(
        30.0, gt=0.0, le=3600.0, description="A running job silent this long lost its worker."
    )
    max_attempts: int = Field(3, ge=1, le=20, description="Trainings of one job before it fails.")
    resend_after_seconds: float = Field(
        60.0, gt=0.0, le=86400.0, description="A queued job unclaimed this long is sent again."
    )
    reconcile_seconds: float = Field(
        10.0, gt=0.0, le=3600.0, description="How often each worker runs the reconciler."
    )
    job_time_limit_seconds: float = Field(
        6 * 3600.0, gt=0.0, le=7 * 86400.0, description="A job running longer fails."
    )
    db_retry_seconds: float = Field(
        120.0, ge=0.0, le=3600.0, description="How long a worker retries a database write."
    )
    champion_poll_seconds: float = Field(
        2.0, gt=0.0, le=300.0, description="How often each API process checks for a new champion."
    )
    predict_max_chars: int = Field(
        20_000, ge=1, le=1_000_000, description="Characters per text in a predict request."
    )
    explain_max_texts: int = Field(
        16,
        ge=1,
        le=10_000,
        description="Texts per predict request with `explain` (an explanation by integrated "
        "gradients costs about as much as scoring the text SENTIMENT_EXPLAIN_STEPS times).",
    )
    explain_max_waiting: int = Field(
        4,
        ge=0,
        le=1000,
        description="Explanation requests one API process holds waiting behind the one it "
        "computes (on a thread of its own, never the predictions'); more are refused (503).",
    )
    explain_steps: int = Field(
        64,
        ge=1,
        le=1024,
        description="Integrated gradients' steps in the `explain` signature of the models "
        "a worker exports (more: contributions that add up more closely, at more cost).",
    )

    umask: str = Field(
        "077",
        pattern=r"^0?[0-7]{3}$",
        description="File-creation mask (octal) for the database, the data and the models "
        "store: 077 keeps them to the service's own user (folders 0700, files 0600); 022 "
        "lets other local users read them.",
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="Log lines: JSON (with request and job ids) or plain text."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    access_log_per_second: float = Field(
        100.0,
        ge=0.0,
        description="Successful requests an API process gives an access line a second, at "
        "most (a second's worth at once); past that, the next line counts the requests left "
        "out (`unlogged`). Refused and failed requests always get theirs, /metrics counts "
        "every one. `inf`: a line for every request.",
    )
    tf_cpp_min_log_level: int = Field(
        3,
        ge=0,
        le=3,
        description="TensorFlow's native (C++) messages the worker (and `make up`'s API) "
        "logs, as TF_CPP_MIN_LOG_LEVEL: 3 only fatal ones, 2 errors too, 1 warnings too, "
        "0 all. TF_CPP_MIN_LOG_LEVEL, when set, wins.",
    )
    # Access control (docs/security.md).
    admin_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="An admin API key chosen by the operator (32+ characters); never stored.",
    )
    bootstrap_admin_key: bool = Field(
        True, description="With no key at all, make an admin key at first start and print it once."
    )
    auth_cache_seconds: float = Field(
        5.0, ge=0.0, le=300.0, description="How long a verified key is trusted without a read."
    )
    metrics_public: bool = Field(False, description="Let /metrics answer scrapers without a key.")
    predict_public: bool = Field(
        False, description="Let /v1/predict answer requests without a key."
    )
    rate_limit_jobs_per_minute: float = Field(
        60.0, ge=0.0, le=1e6, description="Job submissions per key per minute (0: no limit)."
    )
    rate_limit_predict_per_minute: float = Field(
        6000.0, ge=0.0, le=1e9, description="Predict requests per key per minute (0: no limit)."
    )
    rate_limit_explain_per_minute: float = Field(
        120.0,
        ge=0.0,
        le=1e9,
        description="Predict requests with `explain` per key per minute, besides their "
        "predict tokens (0: no limit).",
    )
    max_queued_jobs_per_key: int = Field(
        100, ge=1, le=100_000, description="Jobs one key may have waiting in the queue."
    )
    max_sweep_points: int = Field(
        64, ge=1, le=1000, description="Most points (jobs) one sweep may have."
    )
    # Spec limits: an operator may lower the spec's own bounds (never raise them).
    max_epochs: int = Field(200, ge=1, le=200, description="Most epochs per job.")
    max_units: int = Field(
        1024, ge=1, le=4096, description="Most units per recurrent or hidden layer."
    )
    max_layers: int = Field(8, ge=1, le=8, description="Most recurrent or hidden layers.")
    max_vocab_size: int = Field(1_000_000, ge=100, le=1_000_000, description="Largest vocabulary.")
    max_embedding_parameters: int = Field(
        50_000_000,
        ge=1000,
        le=1_000_000_000,
        description="Most embedding weights (vocabulary size x width) per job.",
    )
    max_parameters: int = Field(
        100_000_000,
        ge=1000,
        le=10_000_000_000,
        description="Most parameters (weights) in one network, by the spec's estimate.",
    )
    max_training_memory: ByteSize = Field(
        ByteSize(4 * 1024**3),
        ge=1024**2,
        description="Most memory one training step may need, by the spec's estimate "
        "(docs/security.md): bytes, or '4GiB', '512MiB'.",
    )
    max_sequence_length: int = Field(2000, ge=2, le=2000, description="Most tokens per review.")
    max_embedding_dim: int = Field(1024, ge=2, le=1024, description="Widest embedding.")
    max_batch_size: int = Field(4096, ge=1, le=4096, description="Largest batch.")
    max_train_size: int = Field(
        25_000, ge=20, le=25_000, description="Most training reviews per job."
    )

    @field_validator("admin_key", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # SENTIMENT_ADMIN_KEY= means no key

    @field_validator("models_store", mode="before")
    @classmethod
    def _a_path_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    @field_validator("models_store")
    @classmethod
    def _a_folder_or_a_bucket(cls, value: str) -> str:
        if value.startswith("s3://") and not value[len("s3://") :].strip("/"):
            raise ValueError(f"expected s3://bucket[/prefix] or a folder, received {value!r}")
        if "://" in value and not value.startswith("s3://"):
            raise ValueError(f"expected s3://bucket[/prefix] or a folder, received {value!r}")
        return value

    @field_validator("store_endpoint_url", mode="before")
    @classmethod
    def _no_endpoint_when_empty(cls, value: object) -> object:
        return None if value == "" else value

    def apply_umask(self) -> None:
        """Files this process creates from now on get ``umask``'s permissions. Called
        where each process starts: the API, the worker, the commands."""
        os.umask(int(self.umask, 8))

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"
