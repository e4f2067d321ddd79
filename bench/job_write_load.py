"""What running training jobs cost PostgreSQL and Redis: N jobs, each issuing the
statements a real job issues at its real rates, on the real servers.

A running job talks to the database only; nothing of it goes through Redis:
- its watch thread (``worker/lease.py``) looks for a cancel request every
  ``cancel_poll_seconds`` and, while the training moves, writes the progress every
  ``PROGRESS_SECONDS``, which renews the lease (a bare heartbeat goes only when nothing
  moved for ``heartbeat_seconds``): two transactions every half second by default;
- its training records each finished epoch (``lifecycle.record_epoch``);
- its worker's reconciler (one per worker; a worker trains one job) scans the jobs
  every ``reconcile_seconds`` (``worker/reconciler.py``).

Rows, each a window of ``--seconds`` on a fresh database:
- the baseline: one job's real ``JobWatch`` and ``Reconciler`` threads;
- simulated jobs: each duty through the project's own functions, each turn its own
  transaction, from processes of threads over a bounded connection pool (a real job has
  a process and connections of its own); optionally with a dashboard job page per job
  (``GET /v1/jobs/{id}`` and its metrics every 1.5 s, as ``job.js`` polls them);
- replayed jobs: the same turns, recorded from those functions, sent by pgbench, a
  client cheap enough to find the server's own limit on the machine it shares; also
  with ``synchronous_commit`` off.
The broker carries one message per job: a real Celery worker (``worker.celery_app``)
takes messages for job ids that are not queued (each claim fails at once), and
Redis's MONITOR counts the commands on the bench's Redis database.

PostgreSQL (with pgbench) and Redis must run on this machine: their CPU is read from
/proc. The bench creates a database of its own, and drops it after.

    python -m bench.job_write_load [--jobs 10 100 1000] [--replay 100 1000] [--seconds 20]
"""

import argparse
import heapq
import itertools
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg.types.json import Json
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.auth.keys import Principal
from app.auth.models import Scope
from app.core.db import Database, upgrade_database
from app.core.settings import Settings
from app.core.types import utcnow
from app.jobs import lifecycle, repository, service
from app.jobs.models import EpochMetric, JobStatus, new_job_id
from app.jobs.progress import Phase
from app.jobs.queue import JobQueue
from app.specs.recipes import RECIPES
from worker.lease import PROGRESS_SECONDS, WATCH_TICK_SECONDS, JobRun, JobWatch
from worker.reconciler import Reconciler, reconcile_once
from worker.training.records import EpochMetrics
from worker.training.tracker import Tracker

PROJECT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "SENTIMENT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# A database of its own, so that MONITOR tells the bench's commands from the tests' (db 0).
REDIS_URL = os.environ.get("SENTIMENT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
RECIPE = "course-lstm-128"  # the spec stored in every job row: the course's LSTM
PAGE_SECONDS = 1.5  # the dashboard's job page polls its job and metrics this often
BATCHES_PER_SECOND = 40.0  # how fast a simulated job's progress counter moves
CHECKPOINT_BYTES = 25_000_000  # about the LSTM's weights and Adam's two slots
ADMIN = Principal("bench", "bench", frozenset({Scope.admin}))


# The database


@contextmanager
def fresh_database() -> Iterator[tuple[str, str]]:
    """A new database at the migrations' head; yields its URL and name, dropped after."""
    name = f"sentiment_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+psycopg://"
        )
        url = f"{base}/{name}"
        upgrade_database(url)
        yield url, name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PooledDatabase(Database):
    """The project's database with a pool sized for the simulator's threads. Pre-ping as
    the service's own engine does (``app/core/db.py``): it is one round trip per
    transaction."""

    def __init__(self, url: str, connections: int) -> None:
        self.url = url
        self.engine = create_engine(
            url, pool_pre_ping=True, pool_size=connections, max_overflow=0, pool_timeout=300
        )
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)


class StatementCounter:
    """Statements and transactions an engine sends: in all, and on the current thread."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.transactions = 0
        self._lock = threading.Lock()
        self._mine = threading.local()
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "checkout", self._checkout)  # each transaction checks one out

    def _statement(self, *_: Any) -> None:
        with self._lock:
            self.statements += 1
        self._mine.statements = self.thread_counts()[0] + 1

    def _checkout(self, *_: Any) -> None:
        with self._lock:
            self.transactions += 1
        self._mine.transactions = self.thread_counts()[1] + 1

    def thread_counts(self) -> tuple[int, int]:
        return getattr(self._mine, "statements", 0), getattr(self._mine, "transactions", 0)


def seed_history(database: Database, jobs: int, epochs: int = 6) -> None:
    """Finished jobs with their epochs: the table a long-lived service scans."""
    spec = RECIPES[RECIPE].spec.model_dump(mode="json")
    for start in range(0, jobs, 1000):
        with database.session_scope() as session:
            for _ in range(min(1000, jobs - start)):
                job = lifecycle.new_job(
                    id=new_job_id(), name=RECIPE, spec=spec, epochs_total=epochs
                )
                job.status, job.epochs_done = JobStatus.succeeded, epochs
                session.add(job)
                for epoch in range(1, epochs + 1):
                    session.add(EpochMetric(job_id=job.id, **vars(_epoch_metrics(epoch))))


_numbers = itertools.count(1)


def job_id_of(number: int) -> str:
    """Job ids a pgbench script can make from a number as well: lpad(n, 36, '0')."""
    return f"{number:036d}"


def worker_of(number: int) -> str:
    return f"bench-{number} pid {number}"


def start_jobs(database: Database, count: int) -> list[tuple[str, str]]:
    """``count`` jobs submitted and claimed, each by a worker of its own: (job id, worker),
    numbered on from the last call's."""
    spec = RECIPES[RECIPE].spec
    numbers = [next(_numbers) for _ in range(count)]
    with database.session_scope() as session:
        for number in numbers:
            session.add(
                lifecycle.new_job(
                    id=job_id_of(number),
                    name=spec.name,
                    spec=spec.model_dump(mode="json"),
                    epochs_total=spec.epochs,
                )
            )
        session.flush()
        for number in numbers:
            lifecycle.claim(session, job_id_of(number), worker_of(number))
    return [(job_id_of(number), worker_of(number)) for number in numbers]


def end_jobs(database: Database, jobs: list[tuple[str, str]]) -> None:
    with database.session_scope() as session:
        for job_id, worker in jobs:
            lifecycle.finish(session, job_id, worker, JobStatus.succeeded)


def _epoch_metrics(epoch: int) -> EpochMetrics:
    return EpochMetrics(
        epoch=epoch,
        loss=0.5 / epoch,
        accuracy=1 - 0.2 / epoch,
        val_loss=0.4,
        val_accuracy=0.85,
        seconds=10.0,
    )


def checkpoint_folders(store: Path, jobs: list[tuple[str, str]]) -> None:
    """A checkpoint folder per running job, where the reconciler looks for them
    (``<models store>/.checkpoints/<job id>/``): every worker shares the store."""
    for job_id, _ in jobs:
        (store / ".checkpoints" / job_id).mkdir(parents=True, exist_ok=True)


# What the server spent


def _cpu_seconds(pid: int) -> float | None:
    """A process's CPU time, its threads' together, to the nanosecond (schedstat: /proc's
    stat counts in ticks of 10 ms, too coarse for one job's backend)."""
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
        return sum(int((thread / "schedstat").read_text().split()[0]) for thread in threads) / 1e9
    except (OSError, ValueError):
        return None


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass
class Snapshot:
    at: float
    wal_lsn: str
    commits: int
    other_commits: int
    updated: int
    hot_updated: int
    backends: dict[int, float]  # the bench database's backends: pid -> CPU seconds
    server: dict[int, float]  # every postgres process
    simulators: dict[int, float]  # the simulator's processes and this one


class Probe:
    """Reads what PostgreSQL did: commits, WAL, HOT updates and CPU, from its own views
    and /proc, through connections the measurements leave out."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)
        bench_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        self.bench = psycopg.connect(bench_url, autocommit=True)
        self.own_pids = {self.admin.info.backend_pid, self.bench.info.backend_pid}

    def snapshot(self, simulators: list[int]) -> Snapshot:
        row = self.admin.execute(
            "SELECT pg_current_wal_lsn()::text,"
            " sum(xact_commit) FILTER (WHERE datname = %s),"
            " sum(xact_commit) FILTER (WHERE datname <> %s) FROM pg_stat_database",
            (self.name, self.name),
        ).fetchone()
        assert row is not None
        tables = self.bench.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'jobs'"
        ).fetchone()
        assert tables is not None
        pids = [pid for pid in self.backend_pids() if pid not in self.own_pids]
        return Snapshot(
            at=time.monotonic(),
            wal_lsn=row[0],
            commits=int(row[1] or 0),
            other_commits=int(row[2] or 0),
            updated=int(tables[0]),
            hot_updated=int(tables[1]),
            backends=_cpu_of(pids),
            server=_cpu_of(_postgres_pids()),
            simulators=_cpu_of([os.getpid(), *simulators]),
        )

    def backend_pids(self) -> list[int]:
        rows = self.admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)
        ).fetchall()
        return [int(pid) for (pid,) in rows]

    def wal_bytes(self, since: str, until: str) -> int:
        row = self.admin.execute("SELECT pg_wal_lsn_diff(%s, %s)", (until, since)).fetchone()
        assert row is not None
        return int(row[0])

    def setting(self, name: str) -> str:
        row = self.bench.execute("SELECT current_setting(%s)", (name,)).fetchone()
        assert row is not None
        return str(row[0])

    def close(self) -> None:
        self.admin.close()
        self.bench.close()


def _cpu_of(pids: list[int]) -> dict[int, float]:
    return {pid: cpu for pid in pids if (cpu := _cpu_seconds(pid)) is not None}


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings; a process started meanwhile counts whole."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# The simulation


@dataclass
class Ops:
    """One kind of operation's measurements over a window."""

    count: int = 0
    statements: int = 0
    transactions: int = 0
    lags: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    commits: list[float] = field(default_factory=list)
    failed: int = 0

    def add(self, other: "Ops") -> None:
        self.count += other.count
        self.statements += other.statements
        self.transactions += other.transactions
        self.lags += other.lags
        self.seconds += other.seconds
        self.commits += other.commits
        self.failed += other.failed


@dataclass
class Duty:
    """One periodic duty of a simulated job or worker. ``work`` runs one turn and
    answers the seconds its commit took (None when it cannot tell)."""

    kind: str
    period: float
    work: Callable[[], float | None]
    due: float = 0.0


class Simulator:
    """Runs duties at their periods over a thread pool: a duty's next turn is due one
    period after the last was due, and turns missed by more than a period are skipped,
    as the watch's timers skip them; how late each turn starts shows whether it kept up.
    The turns that start inside ``window`` are measured."""

    def __init__(self, database: PooledDatabase, threads: int) -> None:
        self.database = database
        self.counter = StatementCounter(database.engine)
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="job")
        self._heap: list[tuple[float, int, Duty]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._stopped = False
        self._lock = threading.Lock()
        self.ops: dict[str, Ops] = {}
        self.window = (math.inf, math.inf)
        self._scheduler = threading.Thread(target=self._schedule, name="scheduler", daemon=True)

    def add(self, duty: Duty, first_due: float) -> None:
        duty.due = first_due
        self._push(duty)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify()
        self._scheduler.join()
        self.executor.shutdown(wait=True)

    def _push(self, duty: Duty) -> None:
        with self._ready:
            heapq.heappush(self._heap, (duty.due, next(self._order), duty))
            self._ready.notify()

    def _schedule(self) -> None:
        while True:
            with self._ready:
                while not self._stopped:
                    wait = self._heap[0][0] - time.monotonic() if self._heap else 1.0
                    if wait <= 0:
                        break
                    self._ready.wait(wait)
                if self._stopped:
                    return
                duty = heapq.heappop(self._heap)[2]
            self.executor.submit(self._turn, duty)

    def _turn(self, duty: Duty) -> None:
        if self._stopped:  # a backlog left when the window ended
            return
        started = time.monotonic()
        statements, transactions = self.counter.thread_counts()
        commit, failed = None, False
        try:
            commit = duty.work()
        except Exception:  # counted and shown: a turn that fails must not stop the duty
            failed = True
        ended = time.monotonic()
        after = self.counter.thread_counts()
        if self.window[0] <= started < self.window[1]:
            with self._lock:
                ops = self.ops.setdefault(duty.kind, Ops())
                ops.count += 1
                ops.failed += failed
                ops.statements += after[0] - statements
                ops.transactions += after[1] - transactions
                ops.lags.append(started - duty.due)
                ops.seconds.append(ended - started)
                if commit is not None:
                    ops.commits.append(commit)
        duty.due += duty.period
        if duty.due < ended - duty.period:
            duty.due = ended
        if not self._stopped:
            self._push(duty)


def transaction(database: Database, work: Callable[[Session], object]) -> float:
    """``database.session_scope()``, with its commit timed: the seconds the commit took."""
    session = database.sessions()
    try:
        work(session)
        session.flush()
        committing = time.perf_counter()
        session.commit()
        return time.perf_counter() - committing
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def on_ticks(interval: float) -> float:
    """How often the watch does what is due every ``interval``: at the first of its ticks
    at least that long after the last time."""
    return max(1, math.ceil(interval / WATCH_TICK_SECONDS - 1e-9)) * WATCH_TICK_SECONDS


def periods_of(settings: Settings, epoch_seconds: float) -> dict[str, float]:
    """A running job's duties and their periods while its training moves (its progress
    write renews the lease, so no bare heartbeat goes)."""
    return {
        "cancel poll": on_ticks(settings.cancel_poll_seconds),
        "progress": on_ticks(PROGRESS_SECONDS),
        "epoch": epoch_seconds,
        "reconcile": settings.reconcile_seconds,
    }


class SimulatedJob:
    """A running job's statements, through the functions its worker calls."""

    def __init__(self, database: Database, job_id: str, worker: str, settings: Settings) -> None:
        self.database, self.job_id, self.worker, self.settings = database, job_id, worker, settings
        self.tracker = Tracker()
        self.tracker.start(Phase.training, total=100_000, unit="batches")
        self.started = time.monotonic()
        self.epoch = 0
        self.seen_epoch = 0

    def duties(self) -> dict[str, Callable[[], float | None]]:
        return {
            "cancel poll": self.cancel_poll,
            "progress": self.progress,
            "epoch": self.record_epoch,
            "reconcile": self.reconcile,
            "page": self.page,
        }

    def cancel_poll(self) -> float | None:
        with self.database.session_scope() as session:
            repository.cancel_requested(session, self.job_id)
        return None

    def progress(self) -> float | None:
        """The progress report, which renews the lease."""
        done = int((time.monotonic() - self.started) * BATCHES_PER_SECOND)
        self.tracker.update(done, epoch=self.epoch + 1)
        snapshot = self.tracker.snapshot()
        progress = snapshot.to_json() if snapshot else None
        return transaction(
            self.database,
            lambda s: lifecycle.report_progress(
                s, self.job_id, self.worker, progress, CHECKPOINT_BYTES
            ),
        )

    def record_epoch(self) -> float | None:
        self.epoch += 1
        values = vars(_epoch_metrics(self.epoch))
        return transaction(
            self.database, lambda s: lifecycle.record_epoch(s, self.job_id, self.worker, values)
        )

    def reconcile(self) -> float | None:
        reconcile_once(self.database, self.settings, lambda job_id: None)
        return None

    def page(self) -> float | None:
        """The dashboard's job page: two requests, a session each, as the API serves them."""
        with self.database.session_scope() as session:
            service.get(session, self.job_id, ADMIN)
        with self.database.session_scope() as session:
            epochs = service.metrics(session, self.job_id, self.seen_epoch, ADMIN)[1]
            if epochs:
                self.seen_epoch = epochs[-1].epoch
        return None


@dataclass
class Window:
    """What one window measured."""

    label: str
    jobs: int
    seconds: float
    intended: dict[str, float]  # turns per second, by kind
    ops: dict[str, Ops]
    statements: int
    transactions: int
    commits: int
    other_commits: int
    wal_bytes: int
    updated: int
    hot_updated: int
    backend_cpu: float
    server_cpu: float
    simulator_cpu: float  # its processes, and this one
    connections: int


def observe(
    probe: Probe,
    window: tuple[float, float],
    simulators: list[int],
    counted: Callable[[], tuple[int, int]] = lambda: (0, 0),
) -> tuple[Snapshot, Snapshot, tuple[int, int], int]:
    """Read the server (and ``counted``: statements and transactions) as ``window`` opens
    and closes; and the connections open to the bench's database at its end."""
    time.sleep(max(0.0, window[0] - time.monotonic()))
    before, counts = probe.snapshot(simulators), counted()
    time.sleep(max(0.0, window[1] - time.monotonic()))
    after, counts_after = probe.snapshot(simulators), counted()
    connections = len([pid for pid in probe.backend_pids() if pid not in probe.own_pids])
    delta = (counts_after[0] - counts[0], counts_after[1] - counts[1])
    return before, after, delta, connections


def window_of(
    label: str,
    jobs: int,
    probe: Probe,
    intended: dict[str, float],
    observed: tuple[Snapshot, Snapshot, tuple[int, int], int],
    ops: dict[str, Ops],
) -> Window:
    before, after, (statements, transactions), connections = observed
    if ops:  # the simulators counted them turn by turn
        statements = sum(o.statements for o in ops.values())
        transactions = sum(o.transactions for o in ops.values())
    return Window(
        label=label,
        jobs=jobs,
        seconds=after.at - before.at,
        intended=intended,
        ops=ops,
        statements=statements,
        transactions=transactions,
        commits=after.commits - before.commits,
        other_commits=after.other_commits - before.other_commits,
        wal_bytes=probe.wal_bytes(before.wal_lsn, after.wal_lsn),
        updated=after.updated - before.updated,
        hot_updated=after.hot_updated - before.hot_updated,
        backend_cpu=_cpu_delta(before.backends, after.backends),
        server_cpu=_cpu_delta(before.server, after.server),
        simulator_cpu=_cpu_delta(before.simulators, after.simulators),
        connections=connections,
    )


def simulator_process(
    url: str,
    settings: Settings,
    share: list[tuple[str, str]],
    periods: dict[str, float],
    connections: int,
    pipe: Connection,
) -> None:
    """A simulator process: runs its share of the jobs until the parent says stop (after
    the window it sent has closed), then sends back what the turns inside it measured."""
    database = PooledDatabase(url, connections)
    simulator = Simulator(database, connections)
    shuffle = random.Random(len(share))
    now = time.monotonic()
    for job_id, worker in share:
        duties = SimulatedJob(database, job_id, worker, settings).duties()
        for kind, period in periods.items():
            # Jobs started at different times: each duty's first turn anywhere in its period.
            simulator.add(Duty(kind, period, duties[kind]), now + shuffle.uniform(0, period))
    simulator.start()
    pipe.send("ready")
    simulator.window = pipe.recv()
    pipe.recv()  # stop
    simulator.stop()
    database.dispose()
    pipe.send(simulator.ops)


def simulate(
    url: str,
    probe: Probe,
    settings: Settings,
    store: Path,
    jobs: int,
    pages: bool,
    options: argparse.Namespace,
) -> Window:
    """``jobs`` simulated jobs, shared among ``--processes`` processes (one Python
    process cannot issue the statements of a hundred jobs)."""
    database = Database(url)
    leased = start_jobs(database, jobs)
    checkpoint_folders(store, leased)
    periods = periods_of(settings, options.epoch_seconds)
    if pages:
        periods["page"] = PAGE_SECONDS
    count = min(options.processes, jobs)
    context = multiprocessing.get_context("spawn")  # no inherited threads or connections
    pipes, processes = [], []
    for index in range(count):
        pipe, child = context.Pipe()
        share = leased[index::count]
        pool = max(1, options.connections // count)
        process = context.Process(
            target=simulator_process, args=(url, settings, share, periods, pool, child)
        )
        process.start()
        pipes.append(pipe)
        processes.append(process)
    for pipe in pipes:
        pipe.recv()  # ready
    opens = time.monotonic() + options.warmup
    window = (opens, opens + options.seconds)
    for pipe in pipes:
        pipe.send(window)
    observed = observe(probe, window, [process.pid or 0 for process in processes])
    for pipe in pipes:
        pipe.send("stop")
    ops: dict[str, Ops] = {}
    for pipe in pipes:
        for kind, measured in pipe.recv().items():
            ops.setdefault(kind, Ops()).add(measured)
    for process in processes:
        process.join()
    end_jobs(database, leased)
    database.dispose()
    shutil.rmtree(store / ".checkpoints")
    intended = {kind: jobs / period for kind, period in periods.items()}
    label = f"{jobs:,}" + (" + a job page each" if pages else "")
    return window_of(label, jobs, probe, intended, observed, ops)


def real_job(
    url: str, probe: Probe, settings: Settings, store: Path, options: argparse.Namespace
) -> Window:
    """One job's real watch and its worker's real reconciler, with a training thread that
    moves the progress and records an epoch every ``--epoch-seconds``. As in a worker,
    the job (its child process) and the reconciler (the parent) have an engine each."""
    job_database, worker_database = Database(url), Database(url)
    counters = [StatementCounter(job_database.engine), StatementCounter(worker_database.engine)]
    [(job_id, worker)] = start_jobs(job_database, 1)
    checkpoint_folders(store, [(job_id, worker)])
    run = JobRun(job_id, worker, job_database, settings)
    tracker = Tracker()
    tracker.start(Phase.training, total=100_000, unit="batches")
    halt = threading.Event()

    def on_epoch(metrics: EpochMetrics) -> None:  # as worker/training_job.py's
        run.write(lambda s: lifecycle.record_epoch(s, job_id, worker, vars(metrics)))

    def train() -> None:
        epoch, done, epoch_started = 1, 0, time.monotonic()
        while not halt.wait(1 / BATCHES_PER_SECOND):
            done += 1
            tracker.update(done, epoch=epoch)
            if time.monotonic() - epoch_started >= options.epoch_seconds:
                on_epoch(_epoch_metrics(epoch))
                epoch, epoch_started = epoch + 1, time.monotonic()

    trainer = threading.Thread(target=train, name="training", daemon=True)
    watch = JobWatch(run, tracker)
    reconciler = Reconciler(worker_database, settings, lambda job: None)
    for thread in (trainer, watch, reconciler):
        thread.start()
    opens = time.monotonic() + options.warmup
    try:
        observed = observe(
            probe,
            (opens, opens + options.seconds),
            [],
            lambda: (
                sum(counter.statements for counter in counters),
                sum(counter.transactions for counter in counters),
            ),
        )
    finally:
        halt.set()
        watch.stop()
        reconciler.stop()
        for thread in (trainer, watch):
            thread.join()
    end_jobs(job_database, [(job_id, worker)])
    job_database.dispose()
    worker_database.dispose()
    shutil.rmtree(store / ".checkpoints")
    intended = {
        kind: 1 / period for kind, period in periods_of(settings, options.epoch_seconds).items()
    }
    label = "1, the real JobWatch and Reconciler (baseline)"
    return window_of(label, 1, probe, intended, observed, {})


# The server's ceiling: the same statements from a client written in C


REPLAY_EPOCH = 7919  # the epoch of the recorded turn: a number no other parameter has
Transaction = list[tuple[str, dict[str, Any]]]


def record_turns(
    url: str, settings: Settings, job: tuple[str, str], kinds: list[str]
) -> dict[str, list[Transaction]]:
    """One turn of each duty, as the project's functions send it to the server: its
    transactions, each a list of (statement, parameters)."""
    database = PooledDatabase(url, 1)
    simulated = SimulatedJob(database, job[0], job[1], settings)
    simulated.epoch = REPLAY_EPOCH - 1
    duties = simulated.duties()
    sent: Transaction = []
    done: list[Transaction] = []

    def statement(*arguments: Any) -> None:
        sent.append((arguments[2], dict(arguments[3] or {})))

    def commit(*_: Any) -> None:
        done.append(list(sent))
        sent.clear()

    event.listen(database.engine, "before_cursor_execute", statement)
    event.listen(database.engine, "commit", commit)
    turns = {}
    for kind in kinds:
        duties[kind]()
        turns[kind] = [transaction for transaction in done if transaction]
        done.clear()
    database.dispose()
    return turns


def pgbench_script(
    transactions: list[Transaction],
    job: tuple[str, str],
    recorded_at: datetime,
    jobs: range,
    constants: dict[str, str],
) -> str:
    """A turn as a pgbench script: each transaction as psycopg sends it (the pool's ping, an
    empty query; BEGIN; the statements; COMMIT), for a job drawn at random from ``jobs``.
    Times are the server's clock, offset as they were from ``recorded_at``; other values
    with a colon (which pgbench would read as a variable) go in ``constants``."""

    def value(given: Any) -> str:
        if given == job[0]:
            return "lpad(:n::text, 36, '0')"
        if given == job[1]:
            return "concat('bench-', :n::text, ' pid ', :n::text)"
        if given == REPLAY_EPOCH:
            return ":e"  # a fresh epoch each turn, so that its row is new
        if given is None:
            return "NULL"
        if isinstance(given, datetime):  # the server's clock, as far off as the recorded one
            offset = (given - recorded_at).total_seconds()
            return f"(clock_timestamp() + interval '{offset:.3f} seconds')"
        if isinstance(given, Json):  # a JSON column's value, as SQLAlchemy hands it over
            document = given.obj
            if isinstance(document, dict) and "updated_at" in document:
                # The progress moves: the row's new version differs from the old, as it does.
                name = f"v{len(constants)}"
                constants[name] = json.dumps(document | {"updated_at": "NOW"})
                return f"replace(:{name}, '\"NOW\"', to_json(clock_timestamp())::text)::json"
            given = (given.dumps or json.dumps)(document)
        if isinstance(given, bool | int | float):
            return str(given).lower()
        if isinstance(given, str) and ":" not in given:
            return "'" + given.replace("'", "''") + "'"
        name = f"v{len(constants)}"
        constants[name] = str(given)
        return f":{name}"

    lines = [f"\\set n random({jobs.start}, {jobs.stop - 1})", "\\set e random(10000, 2000000000)"]
    for statements in transactions:
        lines += [";", "BEGIN;"]
        for text, parameters in statements:
            rendered = {name: value(given) for name, given in parameters.items()}
            lines.append(" ".join((text % rendered).split()) + ";")  # psycopg's %(name)s
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def replay(
    url: str,
    probe: Probe,
    settings: Settings,
    store: Path,
    jobs: int,
    durable: bool,
    options: argparse.Namespace,
) -> Window:
    """``jobs`` jobs' turns at their rates, recorded from the project's functions and
    replayed by pgbench (its ``--rate``: arrivals at random, lag reported) over
    ``--connections`` connections, as through a pooler. Not ``durable``: with
    synchronous_commit off for the replay's connections."""
    database = Database(url)
    leased = start_jobs(database, jobs)
    checkpoint_folders(store, leased)
    periods = periods_of(settings, options.epoch_seconds)
    recorded_at = utcnow()
    turns = record_turns(url, settings, leased[0], list(periods))
    numbers = range(int(leased[0][0]), int(leased[-1][0]) + 1)
    constants: dict[str, str] = {}
    folder = Path(tempfile.mkdtemp(prefix="pgbench-", dir=store.parent))
    command = ["pgbench", "--no-vacuum", "--protocol=prepared", "--log"]
    for index, (kind, period) in enumerate(periods.items()):
        script = folder / f"{index}.sql"
        script.write_text(pgbench_script(turns[kind], leased[0], recorded_at, numbers, constants))
        command += ["--file", f"{script}@{round(100 / period)}"]  # weight: turns a second
    rate = sum(jobs / period for period in periods.values())
    seconds = options.warmup + options.seconds + 1
    command += [
        f"--rate={rate:.1f}",
        f"--client={options.connections}",
        "--jobs=2",
        f"--time={seconds:.0f}",
        f"--log-prefix={folder / 'log'}",
    ]
    command += [f"--define={name}={text}" for name, text in constants.items()]
    bench_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + probe.name
    environment = os.environ | ({} if durable else {"PGOPTIONS": "-c synchronous_commit=off"})
    wall = time.time()
    opens = time.monotonic() + options.warmup
    process = subprocess.Popen(
        [*command, bench_url],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    observed = observe(probe, (opens, opens + options.seconds), [process.pid])
    output = process.communicate()[0].decode(errors="replace")
    if process.returncode:
        raise RuntimeError(f"pgbench failed:\n{output[-3000:]}")
    opened = wall + options.warmup
    ops = _pgbench_ops(folder, list(periods), turns, (opened, opened + options.seconds))
    end_jobs(database, leased)
    database.dispose()
    shutil.rmtree(store / ".checkpoints")
    intended = {kind: jobs / period for kind, period in periods.items()}
    label = f"{jobs:,}, replayed by pgbench" + ("" if durable else ", synchronous_commit off")
    return window_of(label, jobs, probe, intended, observed, ops)


def _pgbench_ops(
    folder: Path, kinds: list[str], turns: dict[str, list[Transaction]], window: tuple[float, float]
) -> dict[str, Ops]:
    """Each duty's turns due inside ``window`` (wall clock), from pgbench's logs: client,
    turn, microseconds since it was due, script, end seconds and microseconds, lag."""
    ops: dict[str, Ops] = {}
    for log in folder.glob("log*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if not fields[2].isdigit():  # a failed turn: no time
                ops.setdefault(kinds[int(fields[3])], Ops()).failed += 1
                continue
            took = int(fields[2]) / 1e6
            started = int(fields[4]) + int(fields[5]) / 1e6 - took
            if not window[0] <= started < window[1]:
                continue
            kind = kinds[int(fields[3])]
            measured = ops.setdefault(kind, Ops())
            measured.count += 1
            measured.transactions += len(turns[kind])
            measured.statements += sum(len(statements) for statements in turns[kind])
            lag = int(fields[6]) / 1e6
            measured.seconds.append(took - lag)  # with --rate, pgbench times from the schedule
            measured.lags.append(lag)
    return ops


# The broker


class RedisMonitor(threading.Thread):
    """Counts the commands Redis runs on one database (MONITOR), by command name;
    PUBLISH by channel."""

    def __init__(self, url: str) -> None:
        super().__init__(name="redis-monitor", daemon=True)
        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db", 0))
        self.commands: Counter[str] = Counter()
        self.subscriptions: list[str] = []  # SUBSCRIBE and PSUBSCRIBE, with their channels
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        with self.client.monitor() as monitor:
            while not self._halt.is_set():
                command = monitor.next_command()
                if int(command.get("db", -1)) != self.db or not command.get("command"):
                    continue
                words = str(command["command"]).split()
                name = words[0].upper()
                if name == "PUBLISH" and len(words) > 1:
                    name = f"PUBLISH {words[1]}"
                elif name in ("SUBSCRIBE", "PSUBSCRIBE"):
                    self.subscriptions.append(" ".join(words))
                with self._lock:
                    self.commands[name] += 1

    def take(self) -> Counter[str]:
        """The commands counted since the last take."""
        with self._lock:
            counted, self.commands = self.commands, Counter()
        return counted

    def stop(self) -> None:
        self._halt.set()
        self.client.echo("stop")  # a command on the database wakes the monitor up


@dataclass
class BrokerResult:
    idle: dict[str, float]  # an idle worker's commands a second
    send: dict[str, float]  # a send's commands (the API's side)
    job: dict[str, float]  # a job's, send to ack, beyond the worker's idle rate
    jobs: int
    jobs_seconds: float
    server_commands: int  # INFO's count over the jobs: every database, every client
    redis_cpu: float
    subscriptions: list[str]


def _info(client: redis.Redis) -> tuple[int, float]:
    stats, cpu = client.info("stats"), client.info("cpu")
    return int(stats["total_commands_processed"]), float(cpu["used_cpu_user"] + cpu["used_cpu_sys"])


def _lines(log: Path, text: str, count: int, seconds: float) -> None:
    """Wait for ``count`` lines of the worker's log to hold ``text``."""
    deadline = time.monotonic() + seconds
    while log.read_text(errors="replace").count(text) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} in the worker's log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def _beyond(
    counted: Counter[str], idle: dict[str, float], seconds: float, per: int
) -> dict[str, float]:
    """Each command's count beyond the idle rate over ``seconds``, divided by ``per``."""
    extra = {name: (counted[name] - idle.get(name, 0.0) * seconds) / per for name in counted}
    return {name: count for name, count in extra.items() if count >= 0.05}


def measure_broker(url: str, store: Path, jobs: int, idle_seconds: float) -> BrokerResult:
    """A real worker on a queue of its own: its idle commands, a send's, and a job's
    from send to ack. Each step is warmed up first (connections, queue declarations)."""
    token = uuid.uuid4().hex[:10]
    queue, hostname = f"bench-{token}", f"bench-{token}@bench"
    settings = Settings(broker_url=REDIS_URL, database_url=url, queue=queue)
    environment = os.environ | {
        "SENTIMENT_DATABASE_URL": url,
        "SENTIMENT_BROKER_URL": REDIS_URL,
        "SENTIMENT_QUEUE": queue,
        "SENTIMENT_MODELS_STORE": str(store),
        "SENTIMENT_DATA_DIR": str(store.parent / "data"),
        "SENTIMENT_LOG_FORMAT": "text",
    }
    # INFO and CLIENT LIST on another database, so that MONITOR does not count them.
    other = redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/0")
    monitor = RedisMonitor(REDIS_URL)
    monitor.start()
    log = store.parent / "worker.log"
    with open(log, "wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
             "--loglevel", "INFO", "--hostname", hostname],
            cwd=PROJECT, env=environment, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the stop reaches its children
        )  # fmt: skip
    sender = JobQueue(settings)
    # Sends alone go to a queue nobody consumes (its keys are dropped after).
    unconsumed = JobQueue(settings.model_copy(update={"queue": f"{queue}-unconsumed"}))
    done = "is not queued; nothing to do"  # a job id of no job: its claim fails at once
    try:
        _lines(log, f"{hostname} ready.", 1, 90)
        time.sleep(3)  # its start-up chatter (mingle, gossip) is over
        monitor.take()
        time.sleep(idle_seconds)
        idle = {name: count / idle_seconds for name, count in monitor.take().items()}

        unconsumed.send(str(uuid.uuid4()))
        time.sleep(0.5)
        monitor.take()
        started = time.monotonic()
        for _ in range(jobs):
            unconsumed.send(str(uuid.uuid4()))
        time.sleep(0.5)
        send = _beyond(monitor.take(), idle, time.monotonic() - started, jobs)

        sender.send(str(uuid.uuid4()))
        _lines(log, done, 1, 30)
        monitor.take()
        commands, cpu = _info(other)
        started = time.monotonic()
        for _ in range(jobs):
            sender.send(str(uuid.uuid4()))
        _lines(log, done, jobs + 1, 30 + 5 * jobs)
        jobs_seconds = time.monotonic() - started
        job = _beyond(monitor.take(), idle, jobs_seconds, jobs)
        commands_after, cpu_after = _info(other)
    finally:
        sender.close()
        unconsumed.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        monitor.stop()
        _drop_keys(REDIS_URL, token)
    return BrokerResult(
        idle=idle,
        send=send,
        job=job,
        jobs=jobs,
        jobs_seconds=jobs_seconds,
        server_commands=commands_after - commands,
        redis_cpu=cpu_after - cpu,
        subscriptions=monitor.subscriptions,
    )


def _drop_keys(url: str, token: str) -> None:
    """Remove what the bench's queues and worker left in Redis (their names hold token)."""
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"*{token}*"):
        client.delete(key)
    for key in client.scan_iter(match="_kombu.binding.*"):
        for member in client.smembers(key):
            if token.encode() in member:
                client.srem(key, member)


# The report


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _spread(values: list[float]) -> str:
    """'p50 / p99' in milliseconds."""
    if not values:
        return "—"
    return f"{_ms(percentile(values, 0.5))} / {_ms(percentile(values, 0.99))}"


def report(
    windows: list[Window], settings: Settings, probe: Probe, options: argparse.Namespace
) -> None:
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, PostgreSQL "
        f"{probe.setting('server_version')} (max_connections {probe.setting('max_connections')},"
        f" synchronous_commit {probe.setting('synchronous_commit')}); heartbeat "
        f"{settings.heartbeat_seconds:g} s, cancel poll {settings.cancel_poll_seconds:g} s, "
        f"progress {PROGRESS_SECONDS:g} s, reconcile {settings.reconcile_seconds:g} s, an epoch "
        f"every {options.epoch_seconds:g} s; {options.seconds:g} s windows; "
        f"{options.history:,} finished jobs in the table; {options.connections} connections "
        f"(over the simulator's {options.processes} processes; pgbench's own).\n"
    )
    simulated = [w for w in windows if w.ops]
    print("Per job and duty; a turn's time (p50 ms) at each number of jobs:\n")
    print(
        "| duty | turns/s per job | transactions a turn | statements a turn | "
        + " | ".join(w.label for w in simulated)
        + " |"
    )
    print("|---|---|---|---|" + "---|" * len(simulated))
    for kind in dict.fromkeys(kind for w in simulated for kind in w.ops if w.ops[kind].count):
        first = next(w for w in simulated if kind in w.ops and w.ops[kind].count)
        ops = first.ops[kind]
        print(
            f"| {kind} | {first.intended[kind] / first.jobs:.2f} | "
            f"{ops.transactions / ops.count:.1f} | {ops.statements / ops.count:.1f} | "
            + " | ".join(
                _ms(percentile(w.ops[kind].seconds, 0.5)) if kind in w.ops else "—"
                for w in simulated
            )
            + " |"
        )
    print("\nRates (intended: the turns real jobs take at these settings):\n")
    print(
        "| jobs | transactions/s intended | achieved | statements/s | server commits/s "
        "| kept up | turn lag p99 ms | failed turns | connections |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for w in windows:
        intended = _intended_transactions(w, simulated)
        achieved = w.transactions / w.seconds
        lags = [lag for ops in w.ops.values() for lag in ops.lags]
        lag = percentile(lags, 0.99)
        kept = achieved >= 0.95 * intended and (not lags or lag < on_ticks(PROGRESS_SECONDS))
        print(
            f"| {w.label} | {intended:,.1f} | {achieved:,.1f} ({achieved / intended:.2f}) | "
            f"{w.statements / w.seconds:,.1f} | {w.commits / w.seconds:,.1f} | "
            f"{'yes' if kept else 'no'} | {_ms(lag) if lags else '—'} | "
            f"{sum(ops.failed for ops in w.ops.values())} | {w.connections} |"
        )
    print(
        "\nCost (CPU in cores, CPU seconds a second; per job against the baseline, the "
        "first row):\n"
    )
    print(
        "| jobs | write commits p50 / p99 ms | turns p50 / p99 ms | PostgreSQL CPU: the bench's "
        "backends / all | simulator CPU | backend CPU per job, x baseline | backend µs a "
        "transaction | WAL kB/s | WAL bytes per job a second | HOT updates | other "
        "databases' commits/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = windows[0].backend_cpu / windows[0].seconds / windows[0].jobs
    for w in windows:
        per_job = w.backend_cpu / w.seconds / w.jobs
        print(
            f"| {w.label} | {_spread([c for o in w.ops.values() for c in o.commits])} | "
            f"{_spread([t for o in w.ops.values() for t in o.seconds])} | "
            f"{w.backend_cpu / w.seconds:.3f} / {w.server_cpu / w.seconds:.3f} | "
            f"{w.simulator_cpu / w.seconds:.3f} | {per_job / base:.2f} | "
            f"{1e6 * w.backend_cpu / max(w.transactions, 1):.0f} | "
            f"{w.wal_bytes / w.seconds / 1000:,.1f} | {w.wal_bytes / w.seconds / w.jobs:,.0f} | "
            + (f"{w.hot_updated / w.updated:.0%}" if w.updated else "—")
            + f" | {w.other_commits / w.seconds:.1f} |"
        )


def _intended_transactions(window: Window, simulated: list[Window]) -> float:
    """The transactions a second the window's jobs would issue: turns times each kind's
    transactions a turn, as measured (in this window, or the first that has the kind)."""
    total = 0.0
    for kind, turns in window.intended.items():
        counted = [w.ops[kind] for w in [window, *simulated] if kind in w.ops and w.ops[kind].count]
        total += turns * (counted[0].transactions / counted[0].count if counted else 1)
    return total


def report_broker(result: BrokerResult) -> None:
    print(f"\nBroker (Redis, database {REDIS_URL.rsplit('/', 1)[1]}, counted by MONITOR):\n")
    print("| what | commands | of which |")
    print("|---|---|---|")
    for what, counts in (
        ("an idle worker, a second", result.idle),
        ("a send (the API's side), per job", result.send),
        ("a job, send to ack, beyond the idle rate", result.job),
    ):
        print(f"| {what} | {sum(counts.values()):.1f} | {_breakdown(counts)} |")
    print(
        f"\n{result.jobs} jobs through the worker in {result.jobs_seconds:.1f} s "
        f"({result.jobs_seconds / result.jobs:.2f} s each: a fresh child process per job); "
        f"Redis ran {result.server_commands:,} commands from every client meanwhile (INFO) "
        f"and used {result.redis_cpu:.2f} CPU seconds. The worker subscribed to: "
        + "; ".join(result.subscriptions)
    )


def _breakdown(counts: dict[str, float]) -> str:
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {count:.2f}".rstrip("0").rstrip(".") for name, count in ranked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--seconds", type=float, default=20.0, help="each window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--epoch-seconds", type=float, default=10.0, help="course-gru-32 takes 9.9 s an epoch"
    )
    parser.add_argument("--processes", type=int, default=4, help="the simulator's")
    parser.add_argument(
        "--connections", type=int, default=16, help="the simulator's pool, over its processes"
    )
    parser.add_argument("--history", type=int, default=10_000, help="finished jobs in the table")
    parser.add_argument(
        "--pages-at", type=int, default=100, help="jobs of the row with a job page each (0: none)"
    )
    parser.add_argument(
        "--replay", type=int, nargs="*", default=[100, 1000], help="jobs replayed by pgbench"
    )
    parser.add_argument(
        "--replay-async",
        type=int,
        nargs="*",
        default=[1000],
        help="jobs replayed with synchronous_commit off (a commit does not wait for the disk)",
    )
    parser.add_argument("--broker-jobs", type=int, default=20, help="0 skips the broker")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="job-write-load-") as scratch:
        store = Path(scratch) / "models"
        store.mkdir()
        with fresh_database() as (url, name):
            settings = Settings(database_url=url, models_store=str(store), broker_url=REDIS_URL)
            seeding = Database(url)
            seed_history(seeding, options.history)
            seeding.dispose()
            probe = Probe(name)
            try:
                windows = [real_job(url, probe, settings, store, options)]
                for jobs in [1, *options.jobs]:
                    windows.append(simulate(url, probe, settings, store, jobs, False, options))
                    print(f"{windows[-1].label} jobs: done", file=sys.stderr)
                if options.pages_at:
                    windows.append(
                        simulate(url, probe, settings, store, options.pages_at, True, options)
                    )
                for jobs, durable in [(n, True) for n in options.replay] + [
                    (n, False) for n in options.replay_async
                ]:
                    windows.append(replay(url, probe, settings, store, jobs, durable, options))
                    print(f"{windows[-1].label}: done", file=sys.stderr)
                broker = (
                    measure_broker(url, store, options.broker_jobs, 15.0)
                    if options.broker_jobs
                    else None
                )
                report(windows, settings, probe, options)
                if broker is not None:
                    report_broker(broker)
            finally:
                probe.close()


if __name__ == "__main__":
    main()
