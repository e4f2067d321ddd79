"""Predict throughput, latency, fairness and memory, all in one run on this machine,
the HTTP load from ``wrk`` (a C load generator: a Python client on the same two cores
would starve the servers and hide the differences; Debian: ``apt-get install wrk``).

For each champion (the course's LSTM(128) over 100 tokens, and ``best``, the
NB-weighted trigram bag), trained and registered through the worker's own code path:

(a) the champion SavedModel in process, batches of 1, 64 and 256 real test reviews:
    the model's own speed;
(b) the service, bulk: 8 connections each sending 64 real reviews per request;
(c) the service, single: 64 connections each sending one review per request;
(d) a naive server (bench/naive_server.py: the same model, one call per request,
    no batching) under the loads of (c) and (b);
(e) the service, one connection sending one review at a time: the latency floor;
(f) the ceiling: the same model, loader and batcher behind the barest ASGI application
    (bench/bare_server.py: no key, limits, ids, headers, metrics or logs) under (c);
(g) the flood: one key on 64 connections sending 256 reviews per request, for
    ``--flood-seconds``, while another key sends one review a second; both clients'
    latencies (the flood's by answer, from a probe sending as the flood does), the
    refusals, the model's calls meanwhile (from /metrics), and the service's memory
    after warm-up and after the flood; then the same flood and probe against a server
    that refuses every request on its headers and does nothing else
    (bench/bare_server.py): how fast refusals can be answered at all on this machine.

With ``--against REF`` (a git commit, e.g. the one before a change), that commit's
service runs beside this one and (b) and (c) alternate between the two for
``--rounds`` rounds (an even number: each going first as often), the same model, the
same data, side by side, and the median of the rounds' ratios (one round's swung by 10%
on these machines).

The service runs as ``make up`` and the compose file run it (``python -m app.server``).

    python -m bench.predict_load [--seconds 10] [--flood-seconds 60] [--processes N]
                                 [--champions lstm,best] [--against REF] [--rounds 4]
"""

import argparse
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
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

from app.auth.keys import create_key  # noqa: E402  (after the environment above)
from app.auth.models import Scope  # noqa: E402  (after the environment above)
from app.core.db import Database, upgrade_database  # noqa: E402  (after the environment above)
from app.core.settings import Settings  # noqa: E402  (after the environment above)
from app.registry import store  # noqa: E402  (after the environment above)
from app.specs.recipes import RECIPES  # noqa: E402  (after the environment above)
from app.specs.spec import TrainingSpec  # noqa: E402  (after the environment above)
from bench.report import write_section  # noqa: E402  (after the environment above)
from bench.service import train_and_register  # noqa: E402  (after the environment above)

PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = Settings()
DATABASE = Database(SETTINGS.database_url)
# Accuracy does not matter here, inference cost does: the LSTM trains on a slice.
CHAMPIONS = {
    "lstm": TrainingSpec.model_validate(
        {
            "name": "bench-lstm-128",
            "architecture": "lstm",
            "units": 128,
            "embedding": {"dim": 100, "pretrained": None, "trainable": True},
            "epochs": 1,
            "train_size": 2000,
            "test_size": 500,
        }
    ),
    "best": RECIPES["best"].spec,
}
FLOOD_CONNECTIONS, FLOOD_REVIEWS = 64, 256
PROBE_NICE = -15  # the probes' priority, where allowed (``raise_priority``)


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


def train_champion(spec: TrainingSpec) -> Path:
    """Trained and registered: the champion, as the better model (the LSTM first)."""
    relative = train_and_register(spec, SETTINGS)
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


def predict_key(name: str) -> str:
    """A 'predict' key, as a client program would hold (checked on every request)."""
    with DATABASE.session_scope() as session:
        return create_key(session, name, [Scope.predict])[1]


def bodies_file(reviews: list[str], per_request: int) -> Path:
    path = WORK / f"bodies-{per_request}.txt"
    lines = [
        json.dumps({"texts": reviews[i : i + per_request]})
        for i in range(0, len(reviews) - per_request, per_request)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_wrk(
    port: int, connections: int, per_request: int, reviews: list[str], seconds: float,
    key: str | None = None,
) -> dict[str, int]:  # fmt: skip
    """``wrk`` with one thread (the servers get the cores) and the bodies in turn: its
    run as ``bench/wrk_bodies.lua`` prints it."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(PROJECT / "bench" / "wrk_bodies.lua"),
        *(["-H", f"Authorization: Bearer {key}"] if key else []),
        f"http://127.0.0.1:{port}/v1/predict", "--", str(bodies_file(reviews, per_request)),
    ]  # fmt: skip
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(printed.strip().splitlines()[-1]))


def wrk(
    port: int, name: str, connections: int, per_request: int, reviews: list[str], seconds: float,
    key: str | None = None,
) -> Outcome:  # fmt: skip
    run = run_wrk(port, connections, per_request, reviews, seconds, key)
    elapsed = run["duration_us"] / 1e6
    scored = run["requests"] - run["non2xx"]  # a refused request scored no review
    return Outcome(
        name,
        scored * per_request / elapsed,
        run["requests"] / elapsed,
        run["p50_us"] / 1000,
        run["p99_us"] / 1000,
        run["non2xx"] + run["socket_errors"],
    )


@dataclass
class Probe:
    """A client in a thread of its own sending one body every ``interval`` seconds (a
    trickle beside wrk's load), recording each answer's status and latency; its
    requests' ids start with ``name``."""

    name: str
    port: int
    key: str
    body: bytes
    interval: float
    answers: list[tuple[int, float, str | None]] = field(default_factory=list)
    raised: bool = False  # whether it ran ahead of the load on the cores (``raise_priority``)

    def run(self, stop: threading.Event) -> None:
        import http.client

        self.raised = raise_priority()
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not stop.is_set():
            headers["X-Request-ID"] = f"{self.name}-{len(self.answers)}"
            started = time.perf_counter()
            connection.request("POST", "/v1/predict", self.body, headers)
            answer = connection.getresponse()
            answer.read()
            elapsed = time.perf_counter() - started
            self.answers.append((answer.status, elapsed * 1000, answer.getheader("retry-after")))
            stop.wait(max(0.0, self.interval - elapsed))
        connection.close()

    def latencies(self, status: int) -> list[float]:
        return sorted(ms for code, ms, _ in self.answers if code == status)


def raise_priority(nice: int = PROBE_NICE) -> bool:
    """This thread ahead of the load on the cores, where that is allowed (root, or
    CAP_SYS_NICE). A probe shares the two cores with wrk and the servers, and the time it
    waited for one of them to answer its own answer was counted as the server's: the
    refusing-only server's refusals read p99 15.8 ms at the load's priority, 8.2 ms ahead
    of it, in two floods of 20 s on 2026-12-06."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except PermissionError:
        return False
    return True


@dataclass
class Flood:
    wrk: dict[str, int]
    flood: Probe
    other: Probe
    memory_warm: float
    memory_after: float
    model_calls: tuple[float, float] = (0.0, 0.0)  # made during the flood, and their seconds
    # The flood's admitted requests as the service timed them, in ms (its access lines).
    admitted: list[float] = field(default_factory=list)
    dropped: float = 0.0  # admitted during the flood, then dropped at their deadlines
    # The event loops' lag samples during the flood: how many, and how many past 5 and 10 ms.
    loop_lag: tuple[float, float, float] = (0.0, 0.0, 0.0)


def flood(
    port: int, pid: int, keys: tuple[str, str], reviews: list[str], seconds: float,
    calls: bool = True,
) -> Flood:  # fmt: skip
    """(g): one key floods on 64 connections with 256 reviews per request while another
    sends one review a second; a probe sends as the flood does, every 100 ms, to time
    the flood's answers by status. ``calls``: count the model's calls meanwhile."""
    flood_key, other_key = keys
    memory_warm = resident_mb(pid)
    counted_before = counted(port) if calls else {}
    log = WORK / f"server-{port}.log"
    logged_before = log.stat().st_size
    stop = threading.Event()
    flood_body = json.dumps({"texts": reviews[:FLOOD_REVIEWS]}).encode()
    probes = (
        Probe("flood-probe", port, flood_key, flood_body, 0.1),
        Probe("other-client", port, other_key, json.dumps({"texts": reviews[-1:]}).encode(), 1.0),
    )
    threads = [threading.Thread(target=probe.run, args=(stop,)) for probe in probes]
    for thread in threads:
        thread.start()
    try:
        run = run_wrk(port, FLOOD_CONNECTIONS, FLOOD_REVIEWS, reviews, seconds, flood_key)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    counted_after = counted(port) if calls else {}

    def grew(name: str, label: str = "") -> float:
        return counted_after.get((name, label), 0.0) - counted_before.get((name, label), 0.0)

    call = "sentiment_predict_model_call_seconds"
    made = (grew(f"{call}_count"), grew(f"{call}_sum"))
    dropped = grew("sentiment_predict_shed_requests_total", "deadline_passed")
    lag = "sentiment_event_loop_lag_seconds"
    samples = grew(f"{lag}_count")
    loop_lag = (
        samples,
        samples - grew(f"{lag}_bucket", "0.005"),
        samples - grew(f"{lag}_bucket", "0.01"),
    )
    with log.open("rb") as lines:
        lines.seek(logged_before)
        admitted = admitted_by_log(lines.read().decode("utf-8", "replace"), "other-client")
    memory_after = resident_mb(pid)
    return Flood(
        run, probes[0], probes[1], memory_warm, memory_after, made, admitted, dropped, loop_lag
    )


def admitted_by_log(text: str, excluded: str) -> list[float]:
    """The durations of the predict requests answered 200 in a service's access lines,
    but those whose ids start with ``excluded``, sorted."""
    durations = []
    for line in text.splitlines():
        if '"app.access"' not in line:
            continue
        fields = json.loads(line)
        if fields.get("status") == 200 and not fields["request_id"].startswith(excluded):
            durations.append(float(fields["duration_ms"]))
    return sorted(durations)


def counted(port: int) -> dict[tuple[str, str], float]:
    """Every API process's samples in /metrics, summed by name and by the one label that
    tells this benchmark's apart: a shed request's reason, a histogram bucket's bound."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            key = (sample.name, sample.labels.get("reason", sample.labels.get("le", "")))
            found[key] = found.get(key, 0.0) + sample.value
    return found


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else math.nan


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


def database_for(against: Path) -> dict[str, str]:
    """The settings of ``against``'s own copy of the database, stamped with its newest
    revision (the newer columns stay, unread by it): an older checkout cannot start on a
    database a newer migration moved on. Taken before this checkout's service starts,
    with the champion registered."""
    copy = WORK / f"{against.name}.sqlite"
    source, target = sqlite3.connect(WORK / "sentiment.sqlite"), sqlite3.connect(copy)
    with closing(source), closing(target):
        source.backup(target)  # with what the write-ahead log still holds (the keys)
    url = f"sqlite:///{copy}"
    heads = subprocess.run([sys.executable, "-m", "alembic", "heads"], cwd=against,
                           capture_output=True, text=True, check=True)  # fmt: skip
    newest = heads.stdout.split()[0]
    subprocess.run([sys.executable, "-m", "alembic", "stamp", newest], cwd=PROJECT,
                   env=os.environ | {"SENTIMENT_DATABASE_URL": url}, check=True)  # fmt: skip
    return {"SENTIMENT_DATABASE_URL": url}


def serve(
    arguments: list[str], env: dict[str, str], port: int, cwd: Path = PROJECT
) -> subprocess.Popen[bytes]:
    """``python <arguments>`` in ``cwd`` serving on ``port``, once every process of it is
    ready."""
    log = open(WORK / f"server-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=cwd,
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


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        process.terminate()
        process.wait()


@contextmanager
def checkout(ref: str | None) -> Iterator[Path | None]:
    """A detached worktree of ``ref`` (None: none), removed afterwards."""
    if ref is None:
        yield None
        return
    folder = WORK / f"against-{ref}"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(folder), ref], cwd=PROJECT,
                   check=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=PROJECT,
                       check=False)  # fmt: skip


@dataclass
class ChampionRun:
    name: str
    spec: TrainingSpec
    results: list[Outcome]
    model: dict[int, Outcome]
    against: dict[str, Outcome]  # (b) and (c) on --against's service: its median round
    ratios: dict[str, list[float]]  # (b)'s and (c)'s reviews/s over --against's, by round
    flood: Flood


def bench_champion(
    name: str, arguments: argparse.Namespace, reviews: list[str], keys: tuple[str, str],
    against: Path | None,
) -> ChampionRun:  # fmt: skip
    seconds, spec = arguments.seconds, CHAMPIONS[name]
    folder = train_champion(spec)
    model = {batch: in_process(folder, reviews, seconds, batch) for batch in (1, 64, 256)}
    results = list(model.values())
    ratios: dict[str, list[float]] = {}  # (b)'s and (c)'s reviews/s over --against's, by round
    for outcome in results:
        print(outcome.row(), flush=True)

    key = keys[0]
    service_env = {"SENTIMENT_API_PROCESSES": str(arguments.processes)}
    # /metrics open (its own setting, not a limit): the flood reads the model's calls there.
    metrics_env = {"SENTIMENT_METRICS_PUBLIC": "true"}
    baseline_env = service_env | database_for(against) if against is not None else {}
    service = serve(["-m", "app.server"], service_env | metrics_env, 8711)
    baseline = None
    try:
        if against is not None:
            baseline = serve(["-m", "app.server"], baseline_env, 8714, cwd=against)
            wrk(8714, "warm-up", 8, 8, reviews, 3, key)
        wrk(8711, "warm-up", 8, 8, reviews, 3, key)
        before: dict[str, Outcome] = {}
        for label, connections, per_request in (
            ("(b) bulk: 8 connections x 64 reviews", 8, 64),
            ("(c) single: 64 connections x 1 review", 64, 1),
        ):
            if baseline is None:
                results.append(wrk(8711, label, connections, per_request, reviews, seconds, key))
                print(results[-1].row(), flush=True)
                continue
            # Alternated with --against's service, round after round, each going first in
            # turn: drift hits both alike, and one round's ratio is not the machine's noise.
            # An even count: the same code served from two folders read 0.934, 1.020, 0.950
            # and 1.030 in turn, slower whenever it went first, and three rounds put one
            # side first twice.
            ours: list[Outcome] = []
            theirs: list[Outcome] = []
            for turn in range(arguments.rounds):
                sides = [(8711, label, ours), (8714, f"{label}, at {arguments.against}", theirs)]
                for port, row, into in sides if turn % 2 == 0 else sides[::-1]:
                    into.append(wrk(port, row, connections, per_request, reviews, seconds, key))
                    print(into[-1].row(), flush=True)
            results.append(median_outcome(ours))
            before[label[:3]] = median_outcome(theirs)
            ratios[label[:3]] = [
                new.reviews_per_second / old.reviews_per_second
                for new, old in zip(ours, theirs, strict=True)
            ]
        stop(baseline)
        baseline = None
        results.append(wrk(8711, "(e) one connection, one review", 1, 1, reviews, seconds, key))
        print(results[-1].row(), flush=True)
        flooded = flood(8711, service.pid, keys, reviews, arguments.flood_seconds)
        print(flood_lines(flooded, model[64]), flush=True)
    finally:
        stop(baseline)
        stop(service)

    naive_env = {"SENTIMENT_NAIVE_MODEL": str(folder)}
    naive = serve(["-m", "uvicorn", "bench.naive_server:app", "--port", "8712"], naive_env, 8712)
    try:
        wrk(8712, "warm-up", 8, 1, reviews, 3)
        for label, connections, per_request in (
            ("(d) naive server under (c)", 64, 1),
            ("naive server under (b)", 8, 64),
        ):
            results.append(wrk(8712, label, connections, per_request, reviews, seconds))
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
    return ChampionRun(name, spec, results, model, before, ratios, flooded)


def median_outcome(outcomes: list[Outcome]) -> Outcome:
    """The round of median reviews/s (of an even count, the lower middle one)."""
    ranked = sorted(outcomes, key=lambda outcome: outcome.reviews_per_second)
    return ranked[(len(ranked) - 1) // 2]


def refusal_ceiling(
    arguments: argparse.Namespace, reviews: list[str], keys: tuple[str, str]
) -> Flood:
    """(g) against a server that refuses every request on its headers, nothing else."""
    refusing = serve(["-m", "app.server", "--app", "bench.bare_server:refusing_app"],
                     {"SENTIMENT_API_PROCESSES": str(arguments.processes)}, 8715)  # fmt: skip
    try:
        return flood(8715, refusing.pid, keys, reviews, arguments.flood_seconds, calls=False)
    finally:
        stop(refusing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flood-seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=SETTINGS.api_processes)
    parser.add_argument("--champions", default="lstm,best", help="of: " + ",".join(CHAMPIONS))
    parser.add_argument("--against", default=None, help="a git commit to compare (b), (c) with")
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternated rounds with --against (an even number)"
    )
    arguments = parser.parse_args()
    names = arguments.champions.split(",")
    if unknown := set(names) - set(CHAMPIONS):
        sys.exit(f"unknown champions {sorted(unknown)}; expected some of {sorted(CHAMPIONS)}")
    if shutil.which("wrk") is None:
        sys.exit("bench.predict_load drives the load with wrk: apt-get install wrk")
    reviews = test_reviews()
    upgrade_database(SETTINGS.database_url)
    keys = predict_key("bench flood"), predict_key("bench other client")
    with checkout(arguments.against) as against:
        runs = [bench_champion(name, arguments, reviews, keys, against) for name in names]
    ceiling = refusal_ceiling(arguments, reviews, keys)
    report(runs, ceiling, arguments)


def flood_lines(run: Flood, batch_64: Outcome) -> str:
    """The flood's figures against the targets."""
    wait_ms = SETTINGS.predict_max_wait_ms
    batch_ms = (batch_64.p50_ms or 0.0) * SETTINGS.batch_max_size / 64
    other = run.other.latencies(200)
    admitted, refused = run.flood.latencies(200), run.flood.latencies(503)
    other_failed = sum(1 for status, _, _ in run.other.answers if status != 200)
    retry_after = {str(value) for status, _, value in run.flood.answers if status == 503}
    elapsed = run.wrk["duration_us"] / 1e6
    growth = run.memory_after / run.memory_warm
    calls, call_seconds = run.model_calls
    call_ms = call_seconds / calls * 1000 if calls else math.nan
    own_calls = math.ceil(FLOOD_REVIEWS / SETTINGS.batch_max_size)
    samples, past_5, past_10 = run.loop_lag
    return (
        f"- the other client (one review a second, {len(run.other.answers)} requests): worst "
        f"**{max(other, default=math.nan):.1f} ms**, p50 {percentile(other, 0.5):.1f} ms, "
        f"{other_failed} not answered 200 (target: worst at most 500 ms)\n"
        f"- the flood (wrk, {FLOOD_CONNECTIONS} connections x {FLOOD_REVIEWS} reviews): "
        f"{run.wrk['requests'] / elapsed:,.0f} requests/s, {run.wrk['non2xx']:,} of "
        f"{run.wrk['requests']:,} refused, **{run.wrk['timeouts']} timed out** (target: "
        f"none), p99 {run.wrk['p99_us'] / 1000:.1f} ms over all answers\n"
        f"- the flood's answers, timed by its probe ({len(run.flood.answers)} requests, "
        f"{probe_priority(run.flood)}): "
        f"refused (503) **p99 {percentile(refused, 0.99):.1f} ms**, worst "
        f"{max(refused, default=math.nan):.1f} ms, Retry-After {sorted(retry_after)} "
        f"(target: within 10 ms); admitted (200) **p99 {percentile(admitted, 0.99):.1f} ms** "
        f"of {len(admitted)} (target: at most the wait {wait_ms:g} ms plus one batch: "
        f"{wait_ms + batch_ms:.1f} ms at the batch's {batch_ms:.1f} ms in process, "
        f"{wait_ms + call_ms:.1f} ms at its {call_ms:.1f} ms under the flood)\n"
        f"- the flood's admitted requests as the service timed them ({len(run.admitted)} "
        f"access lines, from their headers to their answer): p50 "
        f"{percentile(run.admitted, 0.5):.1f} ms, **p99 {percentile(run.admitted, 0.99):.1f} "
        f"ms**, worst {max(run.admitted, default=math.nan):.1f} ms (the same target); "
        f"{run.dropped:,.0f} more admitted, then dropped at their deadlines (503)\n"
        f"- the model's calls meanwhile: {calls:,.0f}, **{call_ms:.1f} ms** each on average "
        f"(in process: {batch_ms:.1f} ms); a request of {FLOOD_REVIEWS} reviews is "
        f"{own_calls} calls, **{own_calls * call_ms:.0f} ms** of its own at that pace\n"
        f"- the API processes' event loops meanwhile (`sentiment_event_loop_lag_seconds`, "
        f"{samples:,.0f} samples): late by over 5 ms in **{past_5 / max(samples, 1):.1%}** of "
        f"them, over 10 ms in **{past_10 / max(samples, 1):.1%}**: a request arriving then "
        "waited that long before its process could read it\n"
        f"- the service's memory: **{run.memory_warm:,.0f} MB** after warm-up, "
        f"**{run.memory_after:,.0f} MB** after the flood (**x{growth:.2f}**; target: at most "
        "x1.25)"
    )


def probe_priority(probe: Probe) -> str:
    if probe.raised:
        return f"the probe at nice {PROBE_NICE}, ahead of the load"
    return "the probe at the load's priority: raising it was not allowed"


def ceiling_lines(run: Flood) -> str:
    refused = run.flood.latencies(503)
    elapsed = run.wrk["duration_us"] / 1e6
    return (
        "### The flood's refusals: the ceiling\n\n"
        "(g) against a server that refuses every request on its headers and does nothing "
        "else (`bench/bare_server.py`, `refusing_app`), in the same processes, with the same "
        "flood and probe: how fast refusals can be answered at all on this machine.\n\n"
        f"- refused (503), timed by the probe ({len(refused)} requests, "
        f"{probe_priority(run.flood)}): **p99 "
        f"{percentile(refused, 0.99):.1f} ms**, p50 {percentile(refused, 0.5):.1f} ms, worst "
        f"{max(refused, default=math.nan):.1f} ms (the service's target: within 10 ms)\n"
        f"- wrk: {run.wrk['requests'] / elapsed:,.0f} refusals/s, p99 "
        f"{run.wrk['p99_us'] / 1000:.1f} ms, {run.wrk['timeouts']} timed out"
    )


def report(runs: list[ChampionRun], ceiling: Flood, arguments: argparse.Namespace) -> None:
    sections = []
    for run in runs:
        by_name = {outcome.name[:3]: outcome for outcome in run.results}
        b, c, d, e, f = (by_name[k] for k in ("(b)", "(c)", "(d)", "(e)", "(f)"))
        a = run.model[256]
        wait_ms = SETTINGS.batch_max_wait_ms
        batch_one_ms = run.model[1].p50_ms or 0.0
        rows = [*run.results]
        for label, old in run.against.items():
            rows.insert(rows.index(by_name[label]) + 1, old)
        table = (
            "| scenario | reviews/s | requests/s | p50 ms | p99 ms | failed |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(outcome.row() for outcome in rows)
        )
        lines = [
            f"- (b) / (a): **{b.reviews_per_second / a.reviews_per_second:.2f}** (target: at "
            "least 0.9)",
            f"- (c) / (a): **{c.reviews_per_second / a.reviews_per_second:.2f}** (target: at "
            "least 0.5)",
            f"- (c) / (d): **{c.reviews_per_second / d.reviews_per_second:.1f}** (target: at "
            f"least 5), p99 {c.p99_ms:.1f} ms against {d.p99_ms:.1f} ms (target: lower)",
            f"- the ceiling: (f) / (d) **{f.reviews_per_second / d.reviews_per_second:.1f}**; "
            f"(c) is **{c.reviews_per_second / f.reviews_per_second:.2f}** x (f), the rest the "
            "cost of the contract (key, limits, request id, headers, metrics, access line)",
            f"- (e) p50: **{e.p50_ms:.1f} ms** (target: at most the batch wait {wait_ms:g} ms "
            f"plus twice the model's batch-1 call, {batch_one_ms:.1f} ms: "
            f"{wait_ms + 2 * batch_one_ms:.1f} ms)",
        ]
        for label, each in run.ratios.items():
            lines.append(
                f"- {label} against {arguments.against}: **{float(np.median(each)):.3f}** x its "
                f"reviews/s, the median of {len(each)} alternated rounds "
                f"({', '.join(f'{ratio:.3f}' for ratio in each)}; target: within 5%)"
            )
        lines.append(f"- failed requests outside the flood: **{sum(o.failed for o in rows)}**")
        lines.append("\n(g) the flood, and memory:\n")
        lines.append(flood_lines(run.flood, run.model[64]))
        title = f"{run.name}: {run.spec.name}"
        sections.append(f"### {title}\n\n{table}\n\n" + "\n".join(lines))
    sections.append(ceiling_lines(ceiling))
    body = "\n\n".join(sections)
    print(body)
    processes = arguments.processes
    write_section(
        "Predict load",
        "Each champion trained and registered through the worker's code path (the "
        "course's LSTM(128) over 100 tokens on a slice; `best` on all of the training "
        f"reviews). Each scenario runs {arguments.seconds:g} s ((g): "
        f"{arguments.flood_seconds:g} s) against real IMDB test reviews, the load from wrk "
        f"(one thread) on the same 2-core machine; the service runs {processes} API "
        f"process{'es' if processes > 1 else ''} with the default limits but the rate limit "
        "(out of the way: its code runs on every request). (a)'s p50 is the model's time per "
        "call; reviews/s counts the reviews of requests answered 200. Reproduce: "
        "`.venv/bin/python -m bench.predict_load"
        f"{f' --against {arguments.against}' if arguments.against else ''}`.\n\n" + body,
    )


if __name__ == "__main__":
    main()
