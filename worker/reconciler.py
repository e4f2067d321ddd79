"""The reconciler: brings every job the broker or a worker dropped back on track.

Each worker runs it every ``reconcile_seconds`` in a thread of its main process.
- A running job whose heartbeat is older than ``stale_after_seconds`` lost its
  worker (killed, or its machine died): it is queued again and re-sent, up to
  ``max_attempts`` trainings, then failed with the reason.
- A queued job whose message is older than ``resend_after_seconds`` may have
  lost it (a Redis restart empties the queue): it is sent again, waiting twice
  as long after each send. A duplicate message is harmless: the claim lets
  only one delivery train.
- A checkpoint folder whose job has ended (the runner removes its own; this
  catches jobs failed here or cancelled while queued for a retry) is removed.
Every change is a transition of ``lifecycle.py`` (a conditional update on the row),
so reconcilers on several workers can run at once. Its database work and sends hold
``fork_guard.held``: the process it runs in forks the jobs' children.
"""

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from app.core.db import Database
from app.core.settings import Settings
from app.core.types import utcnow
from app.jobs import lifecycle, repository
from app.registry import store
from worker.fork_guard import held

logger = logging.getLogger(__name__)


def reconcile_once(
    database: Database, settings: Settings, send: Callable[[str], object]
) -> dict[str, int]:
    now = utcnow()
    requeued, failed, resent = [], [], []
    with held(), database.session_scope() as session:
        for job in repository.stale(session, now - timedelta(seconds=settings.stale_after_seconds)):
            if job.attempts >= settings.max_attempts:
                reason = (
                    f"its worker stopped heartbeating during {job.attempts} trainings; gave up "
                    f"after {settings.max_attempts} attempts (SENTIMENT_MAX_ATTEMPTS)"
                )
                if lifecycle.give_up(session, job, reason):
                    failed.append(job.id)
            elif lifecycle.requeue(session, job):
                requeued.append(job.id)
        for job in lifecycle.due_for_resend(session, now, settings.resend_after_seconds):
            if job.id not in requeued and lifecycle.resend(session, job.id):
                resent.append(job.id)
    with held():
        for job_id in requeued + resent:  # after the commit: the rows say queued
            send(job_id)
    if requeued or failed or resent:
        logger.warning("reconciler: re-queued %s, failed %s, re-sent %s", requeued, failed, resent)
    removed = remove_ended_checkpoints(database, settings)
    return {
        "requeued": len(requeued),
        "failed": len(failed),
        "resent": len(resent),
        "checkpoints_removed": len(removed),
    }


def remove_ended_checkpoints(database: Database, settings: Settings) -> list[str]:
    """Remove the checkpoints of jobs that have ended; returns their ids."""
    models = store.open_store(settings)
    folders = models.checkpointed_jobs()
    if not folders:
        return []
    with held(), database.session_scope() as session:
        unfinished = repository.unfinished(session, folders)
    ended = [job_id for job_id in folders if job_id not in unfinished]
    for job_id in ended:
        models.clear_checkpoints(job_id)
    if ended:
        logger.info("reconciler: removed the checkpoints of ended jobs %s", ended)
    return ended


class Reconciler(threading.Thread):
    def __init__(
        self, database: Database, settings: Settings, send: Callable[[str], object]
    ) -> None:
        super().__init__(name="reconciler", daemon=True)
        self.database, self.settings, self.send = database, settings, send
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.settings.reconcile_seconds):
            try:
                reconcile_once(self.database, self.settings, self.send)
            except Exception:  # the database may be down: try again next round
                logger.exception("reconciler round failed")

    def stop(self) -> None:
        self._halt.set()
