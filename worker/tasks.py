"""Celery tasks: thin wrappers that pass the job id to the runner."""

import os
import socket

from app.jobs.queue import TRAIN_TASK
from worker.celery_app import app, database, settings

# Imported here, in the parent, so each fresh child starts its job at once (the
# runner loads no TensorFlow: the child imports it when it trains).
from worker.runner import run_job


@app.task(name=TRAIN_TASK, bind=True)
def train_job(self: object, job_id: str) -> str | None:
    hostname = getattr(getattr(self, "request", None), "hostname", None) or socket.gethostname()
    status = run_job(job_id, f"{hostname} pid {os.getpid()}", database, settings)
    return status.value if status else None
