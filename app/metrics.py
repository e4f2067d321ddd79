"""Prometheus metrics: ``GET /metrics`` in the text format.

In the API process: requests by route and status with their latency, predict
batch sizes and queue waits, the champion version. From the database at each
scrape (the workers' record, whichever process or host they run on): jobs by
state, the queue's depth, finished epochs and their seconds, and the training
throughput of running jobs.

With several API processes, set ``PROMETHEUS_MULTIPROC_DIR`` to a folder they
share (emptied at start): every process then writes its samples there and any of
them answers for all (prometheus_client's multiprocess mode).
"""

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import Database
from app.jobs import repository
from app.jobs.models import EpochMetric, Job, JobStatus

REQUESTS = Counter(
    "sentiment_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "sentiment_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "sentiment_predict_batch_size",
    "Texts per model call of the predict batcher.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
QUEUE_WAIT = Histogram(
    "sentiment_predict_queue_wait_seconds",
    "Time a text waits in the batcher before its model call starts.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
CHAMPION = Gauge(
    "sentiment_champion_version",
    "The model version this API process serves (0: none).",
    multiprocess_mode="max",
)
ROUTE_UNKNOWN = "unmatched"  # 404s for paths no route has: one label, not one per path


class JobsCollector(Collector):
    """Read at each scrape from the database, where the workers record everything."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily("sentiment_jobs", "Training jobs by state.", labels=["state"])
        queued = GaugeMetricFamily("sentiment_queue_depth", "Jobs waiting for a worker.")
        epochs = CounterMetricFamily("sentiment_epochs", "Training epochs finished.")
        seconds = CounterMetricFamily(
            "sentiment_epoch_seconds", "Seconds spent in finished training epochs."
        )
        throughput = GaugeMetricFamily(
            "sentiment_training_reviews_per_second",
            "Training reviews per second of the running jobs, by architecture (their last "
            "epochs, added up). No job ids: any key may scrape, and series stay few.",
            labels=["architecture"],
        )
        with self.database.session_scope() as session:
            counts = dict(
                session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            )
            for state in JobStatus:
                states.add_metric([state.value], counts.get(state.value, 0))
            queued.add_metric([], counts.get(JobStatus.queued.value, 0))
            done, spent = session.execute(
                select(func.count(), func.coalesce(func.sum(EpochMetric.seconds), 0.0))
            ).one()
            epochs.add_metric([], done)
            seconds.add_metric([], float(spent))
            rates: dict[str, float] = {}
            for job, last in _running_last_epochs(session):
                reviews = (job.spec.get("train_size") or 25_000) * (
                    1 - job.spec.get("validation_split", 0.2)
                )
                architecture = str(job.spec.get("architecture", "unknown"))
                rates[architecture] = rates.get(architecture, 0.0) + reviews / max(
                    last.seconds, 1e-9
                )
            for architecture, rate in sorted(rates.items()):
                throughput.add_metric([architecture], rate)
        yield from (states, queued, epochs, seconds, throughput)


def _running_last_epochs(session: Session) -> list[tuple[Job, EpochMetric]]:
    running = session.scalars(select(Job).where(Job.status == JobStatus.running)).all()
    latest = repository.latest_epochs(session, [job.id for job in running])
    return [(job, latest[job.id]) for job in running if job.id in latest]


def exposition(database: Database) -> tuple[bytes, str]:
    """The metrics, for ``GET /metrics``."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every API process's samples
    else:
        registry.register(_ThisProcess())
    registry.register(JobsCollector(database))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _ThisProcess(Collector):
    """The default registry: this process's metrics, Python's process and GC ones."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
