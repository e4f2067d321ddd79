"""``python -m app`` (``make up``): the whole service on one machine.

Prepares the IMDB data, migrates the database, starts one Celery worker and
serves the API until interrupted. On the embedded defaults (SQLite database,
SQLite broker) it needs no server; with SENTIMENT_DATABASE_URL and
SENTIMENT_BROKER_URL set, the same command runs on PostgreSQL and Redis.

Its stdout is for the person who started it (the admin key on a fresh install,
how to try the service); every process's log lines go to stderr, the worker's
included.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
from multiprocessing import resource_tracker

from app.core.db import Database, upgrade_database
from app.core.logs import configure_logging
from app.core.output_relay import OutputRelay, native_log_level
from app.core.settings import Settings
from app.main import announce_bootstrap_key
from app.server import serve

EXAMPLE = """
Service ready: http://{host}:{port}/   (API docs: http://{host}:{port}/docs)

Try it:
  KEY={key}
  curl -s -X POST http://{host}:{port}/v1/jobs -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{{"name": "quick-dense", "architecture": "dense", "hidden_layers": [16],
            "embedding": {{"dim": 32, "pretrained": null, "trainable": true}},
            "sequence": {{"max_len": 200, "vocab_size": 10000}},
            "epochs": 3, "batch_size": 64, "train_size": 10000, "test_size": 2000}}'
  curl -s http://{host}:{port}/v1/jobs/<id>/metrics -H "Authorization: Bearer $KEY"
  curl -s -X POST http://{host}:{port}/v1/predict -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{{"texts": ["A wonderful, moving film.",
                      "Boring, badly acted and far too long. A waste of time."]}}'
"""
NO_NEW_KEY = "'<your key; make one: python -m app.auth create --name me --scope admin>'"
logger = logging.getLogger("app.launcher")


def main() -> int:
    settings = Settings()
    settings.apply_umask()
    configure_logging(settings.log_format, settings.log_level)  # uvicorn's supervisor's, too
    # The training library prepares the data, in a process of its own, as the worker trains.
    if subprocess.run([sys.executable, "-m", "worker.training", "prepare-data"]).returncode:
        return 1
    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    try:
        key = announce_bootstrap_key(database, settings) or NO_NEW_KEY
    finally:
        database.dispose()
    # The worker quiets TensorFlow itself (SENTIMENT_TF_CPP_MIN_LOG_LEVEL); all it
    # writes are log lines, for stderr.
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--loglevel", "INFO"],
        stdout=sys.stderr,
    )
    stopping = threading.Event()
    threading.Thread(target=_stop_when_worker_exits, args=(worker, stopping), daemon=True).start()
    print(EXAMPLE.format(host=settings.host, port=settings.port, key=key), flush=True)
    # The API processes load TensorFlow to serve the champion: what its native code
    # writes becomes log lines too, those below the level dropped, as in the worker.
    level = native_log_level(settings.tf_cpp_min_log_level)
    if settings.api_processes > 1:
        # Started now, the helper that outlives the API processes does not hold the
        # relay's pipes open: the relay ends with them.
        resource_tracker.ensure_running()
    try:
        relay: OutputRelay | None = OutputRelay.start(None, settings.log_format, level)
    except OSError:
        logger.exception("could not start the output relay; the API's output stays raw")
        relay = None
    try:
        serve(settings)
    except KeyboardInterrupt:
        pass  # Ctrl-C: uvicorn has shut down; stop the worker too
    finally:
        stopping.set()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        if relay is not None:
            relay.stop()
        if settings.api_processes > 1:
            _stop_resource_tracker()
    return 0


def _stop_resource_tracker() -> None:
    """Ends the helper started above and waits for it, so that the launcher leaves no
    process behind when it returns (alone, the helper exits only some time after it)."""
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)  # no public way
    if stop is not None:
        stop()


def _stop_when_worker_exits(worker: subprocess.Popen[bytes], stopping: threading.Event) -> None:
    """A service whose worker died would accept jobs nobody trains: stop it instead."""
    code = worker.wait()
    if stopping.is_set():
        return
    logger.error("the Celery worker exited (code %s); stopping the API", code)
    os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
