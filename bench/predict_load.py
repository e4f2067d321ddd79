"""Predict throughput and latency, all in one run on this machine.

(a) the champion SavedModel in process, batches of 256 real test reviews: the ceiling;
(b) the service, 8 concurrent clients each sending 64 real reviews per request;
(c) the service, 64 concurrent clients each sending one review per request;
(d) a naive server (bench/naive_server.py: the same model, one call per request,
    no batching) under the load of (c).

The champion is trained and registered through the worker's own code path
(the course's LSTM(128) architecture, 100 tokens; accuracy does not matter
here, inference cost does). The load comes from a minimal keep-alive HTTP
client, so that the client's own cost stays small beside the server's.

    python -m bench.predict_load [--seconds 10]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WORK = Path(tempfile.mkdtemp(prefix="predict-load-"))
os.environ.update(
    {
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SENTIMENT_DATABASE_URL": f"sqlite:///{WORK}/sentiment.sqlite",
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{WORK}/broker.sqlite",
        "SENTIMENT_MODELS_STORE": str(WORK / "models_store"),
        # The limit's code runs on every request; its threshold is out of the way.
        "SENTIMENT_RATE_LIMIT_PREDICT_PER_MINUTE": "1e9",
    }
)

from app.auth.keys import Principal, create_key  # noqa: E402  (after the environment above)
from app.auth.models import Scope  # noqa: E402  (after the environment above)
from app.core.db import Database, upgrade_database  # noqa: E402  (after the environment above)
from app.core.settings import Settings  # noqa: E402  (after the environment above)
from app.jobs import service as jobs  # noqa: E402  (after the environment above)
from app.jobs.spec import TrainingSpec  # noqa: E402  (after the environment above)
from app.registry import repository, store  # noqa: E402  (after the environment above)
from bench.report import write_section  # noqa: E402  (after the environment above)

PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = Settings()
DATABASE = Database(SETTINGS.database_url)
CHAMPION_SPEC = {
    "name": "bench-lstm-128",
    "architecture": "lstm",
    "units": 128,
    "embedding": {"dim": 100, "pretrained": None, "trainable": True},
    "epochs": 1,
    "train_size": 2000,
    "test_size": 500,
}


@dataclass
class Outcome:
    name: str
    seconds: float
    reviews: int = 0
    latencies: list[float] = field(default_factory=list)
    failed: int = 0

    def row(self) -> str:
        requests = len(self.latencies)
        rate = f"{self.reviews / self.seconds:,.0f}"
        if not requests:
            return f"| {self.name} | {rate} | — | — | — | — | {self.failed} |"
        p50, p95, p99 = (np.percentile(self.latencies, q) * 1000 for q in (50, 95, 99))
        return (
            f"| {self.name} | {rate} | {requests / self.seconds:,.0f} | "
            f"{p50:.1f} | {p95:.1f} | {p99:.1f} | {self.failed} |"
        )


def train_champion() -> Path:
    from worker.runner import run_job

    upgrade_database(SETTINGS.database_url)
    owner = Principal("bench", "bench", frozenset({Scope.admin}))
    with DATABASE.session_scope() as session:
        spec = TrainingSpec.model_validate(CHAMPION_SPEC)
        job, _ = jobs.submit(session, spec, owner, None, lambda _: None, SETTINGS)
        job_id = job.id
    run_job(job_id, "bench", DATABASE, SETTINGS)
    with DATABASE.session_scope() as session:
        found = repository.champion(session)
        assert found is not None, "the champion did not register"
        return store.resolve(SETTINGS.models_store, found[0].path)


def test_reviews() -> list[str]:
    from worker.training.data import load_imdb

    corpus = load_imdb(SETTINGS.imdb_path)
    order = np.random.default_rng(0).permutation(len(corpus.test.texts))
    return [corpus.test.texts[i] for i in order[:4096]]


def in_process(folder: Path, reviews: list[str], seconds: float) -> Outcome:
    from app.predict.loader import LoadedModel

    model = LoadedModel(1, "champion", folder)
    outcome = Outcome("(a) in process, batch 256", seconds)
    started = time.perf_counter()
    position = 0
    while time.perf_counter() - started < seconds:
        batch = reviews[position : position + 256]
        position = (position + 256) % (len(reviews) - 256)
        model.score(batch)
        outcome.reviews += len(batch)
    outcome.seconds = time.perf_counter() - started
    return outcome


def predict_key() -> str:
    """A 'predict' key, as a client program would hold (checked on every request)."""
    with DATABASE.session_scope() as session:
        return create_key(session, "bench client", [Scope.predict])[1]


class Connection:
    """HTTP/1.1 keep-alive POSTs of JSON over one socket; nothing else."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes) -> int:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def load(
    port: int, name: str, clients: int, per_request: int, reviews: list[str], seconds: float
) -> Outcome:
    outcome = Outcome(name, seconds)
    bodies = [
        json.dumps({"texts": reviews[i : i + per_request]}).encode()
        for i in range(0, len(reviews) - per_request, per_request)
    ]
    deadline = time.perf_counter() + seconds
    key = predict_key()

    async def client(offset: int) -> None:
        connection = Connection(port, key)
        await connection.open()
        sent = offset
        while time.perf_counter() < deadline:
            body = bodies[sent % len(bodies)]
            sent += 1
            started = time.perf_counter()
            try:
                status = await connection.post("/v1/predict", body)
            except (OSError, ValueError, asyncio.IncompleteReadError):
                outcome.failed += 1
                await connection.open()
                continue
            if status != 200:
                outcome.failed += 1
                continue
            outcome.latencies.append(time.perf_counter() - started)
            outcome.reviews += per_request
        connection.writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i * 7) for i in range(clients)))
    outcome.seconds = time.perf_counter() - started
    return outcome


def serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = open(WORK / f"server-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *command, "--port", str(port), "--no-access-log"],
        cwd=PROJECT,
        env=os.environ | env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
            serving = ready.get("checks", {}).get("champion", {}).get("serving_version", 1)
            if ready.get("ready") and serving is not None:
                return process
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"server did not start: {(WORK / f'server-{port}.log').read_text()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    seconds = parser.parse_args().seconds
    folder = train_champion()
    reviews = test_reviews()
    results = [in_process(folder, reviews, seconds)]
    print(results[-1].row(), flush=True)

    service = serve(["app.main:create_app", "--factory"], {}, 8711)
    try:
        asyncio.run(load(8711, "warm-up", 8, 8, reviews, 2))
        results.append(
            asyncio.run(load(8711, "(b) service, 8 clients x 64 reviews", 8, 64, reviews, seconds))
        )
        print(results[-1].row(), flush=True)
        results.append(
            asyncio.run(load(8711, "(c) service, 64 clients x 1 review", 64, 1, reviews, seconds))
        )
        print(results[-1].row(), flush=True)
    finally:
        service.terminate()
        service.wait()

    naive = serve(["bench.naive_server:app"], {"SENTIMENT_NAIVE_MODEL": str(folder)}, 8712)
    try:
        asyncio.run(load(8712, "warm-up", 8, 1, reviews, 2))
        results.append(
            asyncio.run(
                load(8712, "(d) naive server, 64 clients x 1 review", 64, 1, reviews, seconds)
            )
        )
        print(results[-1].row(), flush=True)
    finally:
        naive.terminate()
        naive.wait()

    a, b, c, d = results
    rate = {r.name: r.reviews / r.seconds for r in results}
    p99 = {r.name: float(np.percentile(r.latencies, 99)) * 1000 for r in (c, d)}
    table = (
        "| scenario | reviews/s | requests/s | p50 ms | p95 ms | p99 ms | failed |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(r.row() for r in results)
    )
    verdict = (
        f"\n\n- (b) / (a): **{rate[b.name] / rate[a.name]:.2f}** (target: at least 0.6)\n"
        f"- (c) / (d): **{rate[c.name] / rate[d.name]:.2f}** (target: at least 3), "
        f"p99 {p99[c.name]:.1f} ms against {p99[d.name]:.1f} ms (target: equal or lower)\n"
        f"- failed requests: **{sum(r.failed for r in results)}**"
    )
    print(table + verdict)
    settings = SETTINGS
    write_section(
        "Predict load",
        f"The champion: the course's LSTM(128) over 100 tokens ({CHAMPION_SPEC['name']}). Each "
        f"scenario runs {seconds:.0f} s against real IMDB test reviews, client and servers on the "
        f"same 2-core machine. The service batches up to {settings.batch_max_size} texts, waiting "
        f"at most {settings.batch_max_wait_ms:g} ms.\n\n" + table + verdict,
    )


if __name__ == "__main__":
    main()
