"""Scale-out on PostgreSQL and Redis, as docker-compose.yml describes, with processes
instead of containers: two API processes and three Celery workers. Jobs spread over
the workers; both API processes serve predictions; a champion swap reaches both;
either API process answers /metrics for both (Prometheus multiprocess mode)."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import ADMIN, Stack, postgres_database, redis_url
from tests.support.serving import wait_until
from tests.support.specs import QUICK_DENSE_JOB

WORKERS = 3
JOBS = 6


@pytest.fixture(scope="module")
def cluster(imdb_path, session_data_dir, tmp_path_factory) -> Iterator[tuple[Stack, list[str]]]:
    folder = tmp_path_factory.mktemp("scale-out")
    metrics_dir = folder / "prometheus"
    metrics_dir.mkdir()
    broker = redis_url()
    with postgres_database() as database:
        stack = Stack(
            {
                "SENTIMENT_IMDB_PATH": str(Path(imdb_path).resolve()),
                "SENTIMENT_DATA_DIR": str(session_data_dir),
                "SENTIMENT_MODELS_STORE": str(folder / "models_store"),
                "SENTIMENT_DATABASE_URL": database,
                "SENTIMENT_BROKER_URL": broker,
                "SENTIMENT_QUEUE": f"scale-{uuid.uuid4().hex[:8]}",
                "SENTIMENT_CHAMPION_POLL_SECONDS": "0.5",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            },
            folder,
        )
        try:
            urls = [stack.start_api(), stack.start_api("api2")]
            for index in range(1, WORKERS + 1):
                stack.start_worker(name=f"worker{index}")
            yield stack, urls
        finally:
            stack.stop()


def get(url: str, path: str) -> Any:
    return httpx.get(f"{url}{path}", headers=ADMIN, timeout=30).json()


def predicted_by(url: str) -> int | None:
    """The version that scored a review on this API process (None: none serves yet)."""
    answer = httpx.post(f"{url}/v1/predict", json={"texts": ["Fine."]}, headers=ADMIN, timeout=30)
    return int(answer.json()["model_version"]) if answer.status_code == 200 else None


def test_jobs_spread_over_three_workers_and_both_apis_serve(cluster):
    stack, urls = cluster
    ids = []
    for index in range(JOBS):  # half through each API process
        url = urls[index % 2]
        spec = QUICK_DENSE_JOB | {"name": f"scale-{index}", "seed": index}
        answer = httpx.post(f"{url}/v1/jobs", json=spec, headers=ADMIN, timeout=30)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    ended = {"succeeded", "failed", "cancelled"}
    wait_until(
        lambda: all(get(urls[0], f"/v1/jobs/{i}")["status"] in ended for i in ids), 600, "ended"
    )
    jobs = [get(urls[1], f"/v1/jobs/{i}") for i in ids]
    assert [job["status"] for job in jobs] == ["succeeded"] * JOBS, [job["error"] for job in jobs]
    hosts = {job["worker"].split(" pid ")[0].split("-")[0] for job in jobs}
    assert hosts == {f"worker{i}" for i in range(1, WORKERS + 1)}  # every worker took jobs

    versions = sorted(job["model_version"] for job in jobs)
    best = get(urls[0], "/v1/models")["champion"]["version"]
    wait_until(
        lambda: all(predicted_by(url) == best for url in urls), 60, "both APIs serve the best"
    )

    pinned = versions[0] if versions[0] != best else versions[1]
    answer = httpx.put(
        f"{urls[0]}/v1/models/aliases/champion", json={"version": pinned}, headers=ADMIN, timeout=30
    )
    assert answer.status_code == 200
    wait_until(
        lambda: all(predicted_by(url) == pinned for url in urls), 60, "the swap reaches both APIs"
    )

    # Either API process answers /metrics for both.
    text = httpx.get(f"{urls[1]}/metrics", headers=ADMIN, timeout=30).text
    counted = {
        sample.labels.get("status"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sentiment_http_requests_total"
        and sample.labels.get("route") == "/v1/predict"
    }
    ok = '"path": "/v1/predict", "status": 200'
    served = [stack.log(name).count(ok) for name in ("api", "api2")]
    assert all(count > 0 for count in served)  # each process answered predictions
    assert counted.get("200") == sum(served)
