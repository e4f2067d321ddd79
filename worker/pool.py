"""The worker's process pool: Celery's prefork pool, with a finished job's child
replaced within half a second.

Each job trains in a fresh child (``worker_max_tasks_per_child=1``). Celery's
asynchronous prefork pool notices a child that ended on its maintenance timer,
every 5 s, so after a job (a cancelled one too) the worker took its next job up
to 6 s later; checked every half second it takes about one (the child's own
goodbye, a second in billiard, stays). Chosen by ``worker_pool`` in
``worker/celery_app.py``.
"""

from collections.abc import Callable
from typing import Any

from celery.concurrency import asynpool, prefork

MAINTAIN_SECONDS = 0.5


class _AsynPool(asynpool.AsynPool):
    @property
    def timers(self) -> dict[Callable[[], Any], float]:
        return {self.maintain_pool: MAINTAIN_SECONDS}


class TaskPool(prefork.TaskPool):
    Pool = _AsynPool
