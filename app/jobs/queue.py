"""Sending training jobs to the workers.

The API sends tasks by name, so it never imports the worker (nor TensorFlow).
A message carries only the job id: the row in the database is the truth.
"""

from functools import lru_cache

from celery import Celery

from app.settings import get_settings

TRAIN_TASK = "sentiment.train_job"


@lru_cache
def celery_client() -> Celery:
    settings = get_settings()
    client = Celery("sentiment-api", broker=settings.broker_url)
    client.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True)
    return client


def enqueue_training(job_id: str) -> None:
    settings = get_settings()
    celery_client().send_task(TRAIN_TASK, args=[job_id], queue=settings.queue)
