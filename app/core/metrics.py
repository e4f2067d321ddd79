"""Prometheus metrics: ``GET /metrics`` in the text format.

This process's own: requests by route and status with their latency, predict batch
sizes, queue waits and model calls, shed requests, the champion version, and how late
its event loop runs (``watch_event_loop``). A domain adds what it reads from the
database at each scrape as a collector (the jobs', ``app/jobs/metrics.py``).

With several API processes, set ``PROMETHEUS_MULTIPROC_DIR`` to a folder they
share (emptied at start): every process then writes its samples there and any of
them answers for all (prometheus_client's multiprocess mode).
"""

import asyncio
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
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

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
MODEL_CALL = Histogram(
    "sentiment_predict_model_call_seconds",
    "Time of one model call of the predict batcher, from its texts leaving the queue to "
    "its scores coming back to the event loop (slower under load: the CPU is shared).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
PREDICT_SHED = Counter(
    "sentiment_predict_shed_requests",
    "Predict requests not scored to protect the others: refused at once as over the "
    "allowed wait (over_max_wait), dropped from the queue past it (deadline_passed), "
    "or dropped because their client left (client_gone).",
    ["reason"],
)
CHAMPION = Gauge(
    "sentiment_champion_version",
    "The model version this API process serves (0: none).",
    multiprocess_mode="max",
)
LOOP_LAG_INTERVAL = 0.05  # seconds between the event loop's lag samples
EVENT_LOOP_LAG = Histogram(
    "sentiment_event_loop_lag_seconds",
    f"How late the API process's event loop ran a timer, sampled every "
    f"{LOOP_LAG_INTERVAL * 1000:g} ms: about how long a request arriving then waited before the "
    "process could read it. Past a few ms, the process is short of CPU (under a "
    "flood, its refusals share the cores with the model's calls).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ROUTE_UNKNOWN = "unmatched"  # 404s for paths no route has: one label, not one per path


async def watch_event_loop(interval: float = LOOP_LAG_INTERVAL) -> None:
    """Until cancelled: sleep ``interval``, and record how much later than asked the
    loop woke (``EVENT_LOOP_LAG``). A request arriving meanwhile waited about as long
    before its first byte was read: its client sees that wait on top of the service's
    own time, which the access line and the request timings count from there."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(0.0, loop.time() - asked))


def exposition(*collectors: Collector) -> tuple[bytes, str]:
    """The metrics, for ``GET /metrics``: this process's (or every API process's) and
    what ``collectors`` read at this scrape."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every API process's samples
    else:
        registry.register(_ThisProcess())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _ThisProcess(Collector):
    """The default registry: this process's metrics, Python's process and GC ones."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
