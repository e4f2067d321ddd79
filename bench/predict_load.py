"""Predict throughput and latency, all in one run on this machine, the HTTP load from
``wrk`` (a C load generator: a Python client on the same two cores would starve the
servers and hide the differences; Debian: ``apt-get install wrk``).

(a) the champion SavedModel in process, batches of 1, 64 and 256 real test reviews:
    the model's own speed;
(b) the service, bulk: 8 connections each sending 64 real reviews per request;
(c) the service, single: 64 connections each sending one review per request;
(d) a naive server (bench/naive_server.py: the same model, one call per request,
    no batching) under the loads of (c) and (b);
(e) the service, one connection sending one review at a time: the latency floor;
(f) the ceiling: the same model, loader and batcher behind the barest ASGI application
    (bench/bare_server.py: no key, limits, ids, headers, metrics or logs) under (c).

The service runs as ``make up`` and the compose file run it (``python -m app.server``).

The champion is trained and registered through the worker's own code path
(the course's LSTM(128) architecture, 100 tokens; accuracy does not matter
here, inference cost does).

    python -m bench.predict_load [--seconds 10] [--processes N]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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

from app.auth.keys import create_key  # noqa: E402  (after the environment above)
from app.auth.models import Scope  # noqa: E402  (after the environment above)
from app.core.db import Database  # noqa: E402  (after the environment above)
from app.core.settings import Settings  # noqa: E402  (after the environment above)
from app.registry import store  # noqa: E402  (after the environment above)
from app.specs.spec import TrainingSpec  # noqa: E402  (after the environment above)
from bench.report import write_section  # noqa: E402  (after the environment above)
from bench.service import train_and_register  # noqa: E402  (after the environment above)

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
    reviews_per_second: float
    requests_per_second: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    failed: int = 0

    def row(self) -> str:
        def cell(value: float | None, fmt: str) -> str:
            return "" if value is None else format(value, fmt)

        return (
            f"| {self.name} | {self.reviews_per_second:,.0f} | "
            f"{cell(self.requests_per_second, ',.0f')} | {cell(self.p50_ms, '.1f')} | "
            f"{cell(self.p99_ms, '.1f')} | {self.failed} |"
        )


def train_champion() -> Path:
    relative = train_and_register(TrainingSpec.model_validate(CHAMPION_SPEC), SETTINGS)
    return store.open_store(SETTINGS).open_version(relative)


def test_reviews() -> list[str]:
    from worker.training.data import load_imdb

    corpus = load_imdb(SETTINGS.imdb_path)
    order = np.random.default_rng(0).permutation(len(corpus.test.texts))
    return [corpus.test.texts[i] for i in order[:4096]]


def in_process(folder: Path, reviews: list[str], seconds: float, batch: int) -> Outcome:
    from app.predict.loader import LoadedModel

    model = LoadedModel(1, "champion", folder)
    scored, calls = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        position = (calls * batch) % (len(reviews) - batch)
        model.score(reviews[position : position + batch])
        scored, calls = scored + batch, calls + 1
    elapsed = time.perf_counter() - started
    return Outcome(
        f"(a) in process, batch {batch}", scored / elapsed, p50_ms=elapsed / calls * 1000
    )


def predict_key() -> str:
    """A 'predict' key, as a client program would hold (checked on every request)."""
    with DATABASE.session_scope() as session:
        return create_key(session, "bench client", [Scope.predict])[1]


def bodies_file(reviews: list[str], per_request: int) -> Path:
    path = WORK / f"bodies-{per_request}.txt"
    lines = [
        json.dumps({"texts": reviews[i : i + per_request]})
        for i in range(0, len(reviews) - per_request, per_request)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wrk(
    port: int, name: str, connections: int, per_request: int, reviews: list[str], seconds: float,
    key: str | None = None,
) -> Outcome:  # fmt: skip
    """``wrk`` with one thread (the servers get the cores) and the bodies in turn."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(PROJECT / "bench" / "wrk_bodies.lua"),
        *(["-H", f"Authorization: Bearer {key}"] if key else []),
        f"http://127.0.0.1:{port}/v1/predict", "--", str(bodies_file(reviews, per_request)),
    ]  # fmt: skip
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    run = json.loads(printed.strip().splitlines()[-1])
    elapsed = run["duration_us"] / 1e6
    return Outcome(
        name,
        run["requests"] * per_request / elapsed,
        run["requests"] / elapsed,
        run["p50_us"] / 1000,
        run["p99_us"] / 1000,
        run["non2xx"] + run["socket_errors"],
    )


def resident_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        pending += children.get(current, [])
        for line in Path(f"/proc/{current}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def serve(arguments: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``python <arguments>`` serving on ``port``, once every process of it is ready."""
    log = open(WORK / f"server-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=PROJECT,
        env=os.environ | env | {"SENTIMENT_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import httpx

    deadline, ready_in_a_row = time.monotonic() + 180, 0
    while time.monotonic() < deadline and ready_in_a_row < 10:
        try:  # a new connection each time: any of the processes may answer
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
            serving = ready.get("checks", {}).get("champion", {}).get("serving_version", 1)
            ready_in_a_row = ready_in_a_row + 1 if ready.get("ready") and serving else 0
        except (httpx.TransportError, ValueError):
            ready_in_a_row = 0
        time.sleep(0.2 if ready_in_a_row else 0.5)
    if ready_in_a_row < 10:
        process.kill()
        raise RuntimeError(
            f"server did not start: {(WORK / f'server-{port}.log').read_text()[-2000:]}"
        )
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=SETTINGS.api_processes)
    arguments = parser.parse_args()
    seconds, processes = arguments.seconds, arguments.processes
    if shutil.which("wrk") is None:
        sys.exit("bench.predict_load drives the load with wrk: apt-get install wrk")
    folder = train_champion()
    reviews = test_reviews()
    model = {batch: in_process(folder, reviews, seconds, batch) for batch in (1, 64, 256)}
    results = list(model.values())
    for outcome in results:
        print(outcome.row(), flush=True)

    key = predict_key()
    service_env = {"SENTIMENT_API_PROCESSES": str(processes)}
    service = serve(["-m", "app.server"], service_env, 8711)
    try:
        wrk(8711, "warm-up", 8, 8, reviews, 3, key)
        for name, connections, per_request in (
            ("(b) bulk: 8 connections x 64 reviews", 8, 64),
            ("(c) single: 64 connections x 1 review", 64, 1),
            ("(e) one connection, one review", 1, 1),
        ):
            results.append(wrk(8711, name, connections, per_request, reviews, seconds, key))
            print(results[-1].row(), flush=True)
        memory = resident_mb(service.pid)
    finally:
        stop(service)

    naive_env = {"SENTIMENT_NAIVE_MODEL": str(folder)}
    naive = serve(["-m", "uvicorn", "bench.naive_server:app", "--port", "8712"], naive_env, 8712)
    try:
        wrk(8712, "warm-up", 8, 1, reviews, 3)
        for name, connections, per_request in (
            ("(d) naive server under (c)", 64, 1),
            ("naive server under (b)", 8, 64),
        ):
            results.append(wrk(8712, name, connections, per_request, reviews, seconds))
            print(results[-1].row(), flush=True)
    finally:
        stop(naive)

    bare_arguments = ["-m", "app.server", "--app", "bench.bare_server:app"]
    bare = serve(bare_arguments, service_env | naive_env, 8713)
    try:
        wrk(8713, "warm-up", 8, 1, reviews, 3)
        results.append(wrk(8713, "(f) ceiling: bare ASGI, same batcher, under (c)", 64, 1,
                           reviews, seconds))  # fmt: skip
        print(results[-1].row(), flush=True)
    finally:
        stop(bare)

    report(results, model, memory, processes, seconds)


def report(
    results: list[Outcome], model: dict[int, Outcome], memory: float, processes: int,
    seconds: float,
) -> None:  # fmt: skip
    by_name = {outcome.name[:3]: outcome for outcome in results}
    a, b, c, d, e, f = (by_name[k] for k in ("(a)", "(b)", "(c)", "(d)", "(e)", "(f)"))
    a = model[256]
    wait_ms = SETTINGS.batch_max_wait_ms
    batch_one_ms = model[1].p50_ms or 0.0
    table = (
        "| scenario | reviews/s | requests/s | p50 ms | p99 ms | failed |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(outcome.row() for outcome in results)
    )
    verdict = (
        f"\n\n- (b) / (a): **{b.reviews_per_second / a.reviews_per_second:.2f}** (target: at "
        "least 0.9)\n"
        f"- (c) / (a): **{c.reviews_per_second / a.reviews_per_second:.2f}** "
        "(target: at least 0.5)\n"
        f"- (c) / (d): **{c.reviews_per_second / d.reviews_per_second:.1f}** (target: at least 5), "
        f"p99 {c.p99_ms:.1f} ms against {d.p99_ms:.1f} ms (target: lower)\n"
        f"- the ceiling: (f) / (d) **{f.reviews_per_second / d.reviews_per_second:.1f}**; (c) "
        f"is **{c.reviews_per_second / f.reviews_per_second:.2f}** x (f), the rest the cost of "
        "the contract (key, limits, request id, headers, metrics, access line)\n"
        f"- (e) p50: **{e.p50_ms:.1f} ms** (target: at most the batch wait {wait_ms:g} ms plus "
        f"twice the model's batch-1 call, {batch_one_ms:.1f} ms: "
        f"{wait_ms + 2 * batch_one_ms:.1f} ms)\n"
        f"- failed requests: **{sum(outcome.failed for outcome in results)}**\n"
        f"- the service's resident memory with the champion loaded: **{memory:,.0f} MB** "
        f"({processes} API process{'es' if processes > 1 else ''})"
    )
    print(table + verdict)
    write_section(
        "Predict load",
        f"The champion: the course's LSTM(128) over 100 tokens ({CHAMPION_SPEC['name']}). "
        f"Each scenario runs {seconds:g} s against real IMDB test reviews, the load from wrk "
        f"(one thread) on the same 2-core machine; the service runs {processes} API "
        f"process{'es' if processes > 1 else ''}. (a)'s p50 is the model's time per call. "
        "Reproduce: `.venv/bin/python -m bench.predict_load`.\n\n" + table + verdict,
    )


if __name__ == "__main__":
    main()
