"""The worker's main process forks between its threads' database calls, never during
one (``worker/fork_guard.py``): a child forked mid-query waits forever on SQLite's lock."""

import json
import subprocess
import sys

from kombu import Connection

from tests.support.forks import Step, fork_while
from tests.support.services import PROJECT
from worker import fork_guard


def test_a_fork_waits_for_work_under_the_guard():
    def guarded(step: Step) -> None:
        with fork_guard.held():
            step()

    assert fork_while(guarded) == ["step", "fork"]
    assert fork_while(lambda step: step()) == ["fork", "step"]  # unguarded: no wait


def test_the_guarded_broker_transport_carries_messages(tmp_path):
    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    with Connection(url, transport=fork_guard.GuardedTransport) as connection:
        queue = connection.SimpleQueue("training")
        queue.put({"job": "a"})
        queue.put({"job": "b"})
        assert queue.qsize() == 2
        first = queue.get(timeout=5)
        first.ack()
        assert first.payload == {"job": "a"}
        assert queue.get(timeout=5).payload == {"job": "b"}
        queue.close()


def test_the_worker_polls_an_sqlite_broker_through_the_guarded_transport(tmp_path):
    code = (
        "import json, worker.celery_app as w; c = w.app.connection_for_read(); "
        "print(json.dumps([type(c.transport).__name__, c.hostname]))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'sentiment.sqlite'}",
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
    }
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    transport, hostname = json.loads(completed.stdout.splitlines()[-1])
    assert transport == "GuardedTransport"
    assert hostname == f"sqlite:///{tmp_path / 'broker.sqlite'}"
