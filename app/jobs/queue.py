"""Sending training jobs to the workers.

The API sends tasks by name, so it never imports the worker (nor TensorFlow).
A message carries only the job id: the row in the database is the truth.
"""

import logging
from functools import lru_cache

from celery import Celery

from app.settings import get_settings

TRAIN_TASK = "sentiment.train_job"

logger = logging.getLogger(__name__)


@lru_cache
def celery_client() -> Celery:
    settings = get_settings()
    client = Celery("sentiment-api", broker=settings.broker_url)
    client.conf.update(
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_send_sent_event=True,  # monitors (Flower) see when a job's task was sent
    )
    return client


def enqueue_training(job_id: str) -> bool:
    """Send the job to the workers; False if the broker could not take it.

    Runs after the job's row is committed, so a failure here loses nothing: the
    job stays queued in the database, to be sent again.
    """
    settings = get_settings()
    try:
        celery_client().send_task(
            TRAIN_TASK,
            args=[job_id],
            queue=settings.queue,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception:
        logger.exception("could not send job %s to the broker; it stays queued", job_id)
        return False
    return True
