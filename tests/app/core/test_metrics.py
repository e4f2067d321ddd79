"""GET /metrics after real traffic: each metric there, with plausible values."""

import asyncio
import time

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from app.core import metrics
from app.jobs.models import EpochMetric, Job, JobStatus
from tests.support.api import serve_copy, session_of
from tests.support.specs import QUICK_DENSE_JOB

Sample = tuple[str, tuple[tuple[str, str], ...]]


def samples(text: str) -> dict[Sample, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> Sample:
    return (name, tuple(sorted(labels.items())))


def test_metrics_after_traffic(api, exported):
    version = serve_copy(api, exported)
    before = samples(api.get("/metrics").text)  # the process-wide counters, as they were
    for _ in range(3):
        assert api.post("/v1/predict", json={"texts": ["Great film.", "Dull."]}).status_code == 200
    queued = api.post("/v1/jobs", json=QUICK_DENSE_JOB).json()["id"]
    running = api.post("/v1/jobs", json=QUICK_DENSE_JOB | {"name": "running"}).json()["id"]
    with session_of(api) as session:  # as a worker records a running job's epoch
        session.execute(update(Job).where(Job.id == running).values(status=JobStatus.running))
        epoch = {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.5, "val_accuracy": 0.8}
        session.add(EpochMetric(job_id=running, epoch=1, seconds=2.0, **epoch))
    api.get("/no/such/path")
    time.sleep(4 * metrics.LOOP_LAG_INTERVAL)  # the serving loop samples its lag meanwhile

    scraped = api.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    found = samples(scraped.text)

    def grew(sample: Sample) -> float:
        return found[sample] - before.get(sample, 0.0)

    requests = "sentiment_http_requests_total"
    assert grew(key(requests, method="POST", route="/v1/predict", status="200")) == 3
    assert grew(key(requests, method="GET", route="unmatched", status="404")) == 1
    latency = "sentiment_http_request_duration_seconds_count"
    assert grew(key(latency, method="POST", route="/v1/predict")) == 3
    assert grew(key("sentiment_predict_batch_size_count")) >= 1
    assert grew(key("sentiment_predict_batch_size_sum")) == 6  # two texts, three times
    assert grew(key("sentiment_predict_queue_wait_seconds_count")) == 3
    calls = grew(key("sentiment_predict_model_call_seconds_count"))
    assert calls == grew(key("sentiment_predict_batch_size_count")) >= 1  # one a batch
    assert grew(key("sentiment_predict_model_call_seconds_sum")) > 0
    assert found[key("sentiment_champion_version")] == version
    assert grew(key("sentiment_event_loop_lag_seconds_count")) >= 1  # its watch runs
    # From the database, where workers record their jobs and epochs.
    assert found[key("sentiment_jobs", state="queued")] == 1
    assert found[key("sentiment_jobs", state="running")] == 1
    assert found[key("sentiment_queue_depth")] == 1
    assert found[key("sentiment_epochs_total")] == 1
    assert found[key("sentiment_epoch_seconds_total")] == 2.0
    reviews = 200 * 0.8  # QUICK_DENSE_JOB trains on 200 reviews, 20% held out
    rate = key("sentiment_training_reviews_per_second", architecture="dense")
    assert found[rate] == reviews / 2
    assert queued != running
    # No tenant's job id reaches a scraper, in any series.
    assert not any(running in str(sample) or queued in str(sample) for sample in found)


def test_metrics_need_a_key_unless_opened(api):
    from tests.support.api import without_key

    assert without_key(api).get("/metrics").status_code == 401


def lag_samples() -> tuple[float, float, float]:
    """The event loop's lag samples so far: how many, how many within 100 ms, their sum."""
    found = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in metrics.EVENT_LOOP_LAG.collect()
        for sample in family.samples
    }
    name = "sentiment_event_loop_lag_seconds"
    return (
        found[(f"{name}_count", None)],
        found[(f"{name}_bucket", "0.1")],
        found[(f"{name}_sum", None)],
    )


def test_the_event_loop_watch_records_a_held_loop_as_lag():
    async def scenario() -> None:
        watch = asyncio.create_task(metrics.watch_event_loop(0.01))
        await asyncio.sleep(0.05)  # a few samples of a free loop
        time.sleep(0.3)  # the loop held, as a process starved of CPU holds it
        await asyncio.sleep(0.05)
        watch.cancel()

    before = lag_samples()
    asyncio.run(scenario())
    count, within, total = (a - b for a, b in zip(lag_samples(), before, strict=True))
    assert count >= 3
    assert count - within >= 1  # the held loop's sample, past 100 ms
    assert total >= 0.25  # it woke about 0.29 s late
