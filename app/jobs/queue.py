"""The training queue: the one Celery application definition, and sending jobs to it.

The API sends tasks by name, so it never imports the worker (nor TensorFlow); the
worker (``worker/celery_app.py``) runs the same application with its tasks and
signals. A message carries only the job id: the row in the database is the truth.

Training jobs are long and the row is the truth, so:
- late acknowledgement: a message is acknowledged when its task ends, so a
  worker that dies mid-job does not lose it; the task is idempotent (it claims
  the job row first), so a redelivery never trains twice;
- prefetch of one: a worker holds no job it is not training;
- a fresh child process per job: memory does not grow across jobs, and
  TensorFlow is imported once in each child (never in the parent, which forks);
- task events on, so Flower and other Celery monitors show workers and tasks.
"""

import logging
from collections.abc import Sequence

from celery import Celery

from app.core.settings import Settings

TRAIN_TASK = "sentiment.train_job"

logger = logging.getLogger(__name__)


def make_celery(settings: Settings, include: Sequence[str] = ()) -> Celery:
    app = Celery("sentiment", broker=settings.broker_url, include=list(include))
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
        task_send_sent_event=True,  # monitors (Flower) see when a job's task was sent
    )
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # Redis redelivers an unacknowledged message after this long; a job must fit in it.
        app.conf.broker_transport_options = {"visibility_timeout": 12 * 3600}
    return app


class JobQueue:
    """Sends job ids to the workers through the broker."""

    def __init__(self, settings: Settings, celery: Celery | None = None) -> None:
        self.queue = settings.queue
        self.celery = celery or make_celery(settings)

    def send(self, job_id: str) -> bool:
        """Send the job to the workers; False if the broker could not take it.

        Runs after the job's row is committed, so a failure here loses nothing: the
        job stays queued in the database, to be sent again.
        """
        try:
            self.celery.send_task(
                TRAIN_TASK,
                args=[job_id],
                queue=self.queue,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
        except Exception:
            logger.exception("could not send job %s to the broker; it stays queued", job_id)
            return False
        return True

    def reachable(self) -> None:
        """Raise if the broker does not answer within a couple of seconds."""
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)

    def close(self) -> None:
        self.celery.close()
