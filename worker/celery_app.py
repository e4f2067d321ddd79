"""The Celery worker: ``celery -A worker.celery_app worker``.

The application is the service's one definition (``app/jobs/queue.py``: late
acknowledgement, prefetch of one, a fresh child process per job), with the
training task. The worker reads its settings and opens its database when it
starts; each child process gets fresh connections. The worker's main process
runs the reconciler, and forks only between its threads' database calls
(``worker/fork_guard.py``).

Everything the worker writes is a log line of the service's logging (JSON lines,
those of a job with its id), not Celery's: no banner; Celery's own messages,
warnings and shutdown notices logged; each job run under an output relay
(``app/core/output_relay.py``) that makes what TensorFlow's native code writes log lines
too, dropping those below ``SENTIMENT_TF_CPP_MIN_LOG_LEVEL`` (only fatal ones by
default).
"""

import ast
import logging
import os
from contextvars import Token
from typing import Any

import celery.apps.worker
from celery.signals import (
    celeryd_after_setup,
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)

from app.core import logs, output_relay
from app.core.db import Database
from app.core.settings import Settings
from app.jobs.queue import TRAIN_TASK, JobQueue, make_celery
from worker.fork_guard import guard_the_sqlalchemy_broker

settings = Settings()
settings.apply_umask()  # the children it forks inherit it
database = Database(settings.database_url)
guard_the_sqlalchemy_broker()  # its polling thread and the pool's forks take turns
app = make_celery(settings, include=["worker.tasks"])
app.conf.worker_pool = "worker.pool:TaskPool"  # prefork, replacing a child at once
logger = logging.getLogger(__name__)


@celeryd_init.connect
def _quiet_start(instance: Any, **_: Any) -> None:
    """The worker's main process, before it checks its privileges or forks a child."""
    # The children inherit it, and TensorFlow reads it when one imports it.
    output_relay.native_log_level(settings.tf_cpp_min_log_level)
    _service_logging()  # now, so that Celery's start-up warnings are log lines too
    instance.quiet = True  # no banner: the worker logs what it runs with instead
    celery.apps.worker.safe_say = _say  # its shutdown notices, written past logging


@setup_logging.connect
def _service_logging(**_: Any) -> None:
    """Connected, this replaces Celery's logging setup with the service's."""
    logs.configure_logging(settings.log_format, settings.log_level, filters=[_task_job_id])


def _say(message: str, *_: Any) -> None:
    logging.getLogger("celery.apps.worker").info("%s", message.strip())


@celeryd_after_setup.connect
def _announce(sender: str, instance: Any, **_: Any) -> None:
    logger.info(
        "worker %s: queue %s, %d at once, TF_CPP_MIN_LOG_LEVEL=%s",
        sender,
        settings.queue,
        instance.concurrency,
        os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
    )


def _job_of(task: str, args: Any) -> str | None:
    """The job a training task's arguments (or their repr, in Celery's log records) name."""
    if task != TRAIN_TASK:
        return None
    if isinstance(args, str):
        try:
            args = ast.literal_eval(args)
        except (ValueError, SyntaxError):
            return None
    if isinstance(args, list | tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _task_job_id(record: logging.LogRecord) -> bool:
    """Celery's lines about a training task (received, succeeded, failed) name its job."""
    data = getattr(record, "data", None)
    if isinstance(data, dict) and not getattr(record, "job_id", None):
        job = _job_of(str(data.get("name")), data.get("args"))
        if job:
            record.job_id = job
    return True


_running: dict[str, tuple[Token[str | None], output_relay.OutputRelay | None]] = {}


@task_prerun.connect
def _job_output(task_id: str, task: Any, args: Any = (), **_: Any) -> None:
    """In the child, for the task's run: every line it logs, from any thread, and all it
    writes past logging, carries the job's id."""
    job = _job_of(task.name, args)
    token = logs.job_id.set(job)
    relay = None
    if not getattr(task.request, "is_eager", False):  # a worker's process, not a test's
        try:
            level = output_relay.native_log_level(settings.tf_cpp_min_log_level)  # set at start
            relay = output_relay.OutputRelay.start(job, settings.log_format, level)
        except OSError:
            logger.exception("could not start the output relay; the job's output is raw")
    _running[task_id] = (token, relay)


@task_postrun.connect
def _job_output_ends(task_id: str, **_: Any) -> None:
    token, relay = _running.pop(task_id, (None, None))
    if relay is not None:
        relay.stop()
    if token is not None:
        logs.job_id.reset(token)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked child must not share the parent's database connections."""
    database.engine.dispose(close=False)


_reconciler: list[Any] = []


@worker_ready.connect
def _start_reconciler(**_: Any) -> None:
    from worker.reconciler import Reconciler

    reconciler = Reconciler(database, settings, JobQueue(settings, app).send)
    reconciler.start()
    _reconciler.append(reconciler)


@worker_shutdown.connect
def _stop_reconciler(**_: Any) -> None:
    for reconciler in _reconciler:
        reconciler.stop()
