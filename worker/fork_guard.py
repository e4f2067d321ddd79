"""Forks of the worker's main process wait for its other threads' database work.

The main process forks a fresh child for each job. A child forked while another of
the parent's threads was inside SQLite inherits SQLite's global allocator mutex held
by a thread the child does not have, and waits on it forever at its first query: a
child that received its job and never claimed it, holding the worker's slot (seen
once in CI on the embedded stack; a scratch loop of forks beside a thread writing to
SQLite hung 4 children in 3,500, and none in 2,000 with this guard).

Two other threads work on a database while the parent forks:
- the reconciler, on the job database and the broker;
- on the embedded SQLite broker (``sqla+sqlite``), the main thread polling it. There
  the pool's own supervisor thread forks.

Their database calls run holding :func:`held`, and ``os.fork`` takes it first
(``os.register_at_fork``), so a fork happens between two such calls, never during one.
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqlalchemy

_lock = threading.RLock()  # reentrant: the reconciler's sends go through the guarded broker
# The child continues in the forking thread, which holds the lock: it lets it go too.
os.register_at_fork(
    before=_lock.acquire, after_in_parent=_lock.release, after_in_child=_lock.release
)


@contextmanager
def held() -> Iterator[None]:
    """No fork of this process starts while the block runs."""
    with _lock:
        yield


class GuardedChannel(kombu_sqlalchemy.Channel):
    """kombu's SQLAlchemy channel, each of its queries run under :func:`held`."""

    def _new_queue(self, *args: Any, **kwargs: Any) -> Any:
        with held():
            return super()._new_queue(*args, **kwargs)

    def _put(self, *args: Any, **kwargs: Any) -> Any:
        with held():
            return super()._put(*args, **kwargs)

    def _get(self, *args: Any, **kwargs: Any) -> Any:
        with held():
            return super()._get(*args, **kwargs)

    def _size(self, *args: Any, **kwargs: Any) -> Any:
        with held():
            return super()._size(*args, **kwargs)

    def _purge(self, *args: Any, **kwargs: Any) -> Any:
        with held():
            return super()._purge(*args, **kwargs)


class GuardedTransport(kombu_sqlalchemy.Transport):
    Channel = GuardedChannel


def guard_the_sqlalchemy_broker() -> None:
    """Make this process's ``sqla+`` and ``sqlalchemy+`` broker URLs use
    :class:`GuardedTransport` (the worker's, before its app first connects)."""
    path = f"{__name__}:{GuardedTransport.__name__}"
    for alias in ("sqla", "sqlalchemy"):
        TRANSPORT_ALIASES[alias] = path
