"""The Celery worker: ``celery -A worker.celery_app worker``.

The application is the service's one definition (``app/jobs/queue.py``: late
acknowledgement, prefetch of one, a fresh child process per job), with the
training task. The worker reads its settings and opens its database when it
starts; each child process gets fresh connections. The worker's main process
runs the reconciler, and logs through the service's logging (JSON lines with
the job id), not Celery's.
"""

from typing import Any

from celery.signals import setup_logging, worker_process_init, worker_ready, worker_shutdown

from app.core.db import Database
from app.core.settings import Settings
from app.jobs.queue import JobQueue, make_celery

settings = Settings()
settings.apply_umask()  # the children it forks inherit it
database = Database(settings.database_url)
app = make_celery(settings, include=["worker.tasks"])


@setup_logging.connect
def _service_logging(**_: Any) -> None:
    """Connected, this replaces Celery's logging setup with the service's."""
    from app.core.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked child must not share the parent's database connections."""
    database.engine.dispose(close=False)


_reconciler: list[Any] = []


@worker_ready.connect
def _start_reconciler(**_: Any) -> None:
    from app.jobs.reconciler import Reconciler

    reconciler = Reconciler(database, settings, JobQueue(settings, app).send)
    reconciler.start()
    _reconciler.append(reconciler)


@worker_shutdown.connect
def _stop_reconciler(**_: Any) -> None:
    for reconciler in _reconciler:
        reconciler.stop()
