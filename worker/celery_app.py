"""The Celery application: ``celery -A worker.celery_app worker``.

Training jobs are long and the database row is the truth, so:
- late acknowledgement: a message is acknowledged when its task ends, so a
  worker that dies mid-job does not lose it; the task is idempotent (it claims
  the job row first), so a redelivery never trains twice;
- prefetch of one: a worker holds no job it is not training;
- a fresh child process per job: memory does not grow across jobs, and
  TensorFlow is imported once in each child (never in the parent, which forks);
- task events on, so Flower and other Celery monitors show workers and tasks;
- the service's own logging (JSON lines with the job id), not Celery's.
"""

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_ready, worker_shutdown

from app.jobs.queue import TRAIN_TASK
from app.settings import get_settings

settings = get_settings()

app = Celery("sentiment", broker=settings.broker_url, include=["worker.tasks"])
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_max_tasks_per_child=1,
    worker_concurrency=settings.worker_concurrency,
    task_ignore_result=True,
    task_default_queue=settings.queue,
    task_routes={TRAIN_TASK: {"queue": settings.queue}},
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=True,
    task_send_sent_event=True,
)
if settings.broker_url.startswith(("redis://", "rediss://")):
    # Redis redelivers an unacknowledged message after this long; a job must fit in it.
    app.conf.broker_transport_options = {"visibility_timeout": 12 * 3600}


@setup_logging.connect
def _service_logging(**_: Any) -> None:
    """Connected, this replaces Celery's logging setup with the service's."""
    from app.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked child must not share the parent's database connections."""
    from app.db import get_engine

    get_engine().dispose(close=False)


_reconciler: list[Any] = []


@worker_ready.connect
def _start_reconciler(**_: Any) -> None:
    from app.jobs.queue import enqueue_training
    from worker.reconciler import Reconciler

    reconciler = Reconciler(settings, enqueue_training)
    reconciler.start()
    _reconciler.append(reconciler)


@worker_shutdown.connect
def _stop_reconciler(**_: Any) -> None:
    for reconciler in _reconciler:
        reconciler.stop()
