"""``python -m app.server``: the API alone, in ``SENTIMENT_API_PROCESSES`` processes on
one port (``make up`` runs it beside a worker; the compose file's ``api`` service runs
it as it is).

Each process listens on a socket of its own, bound with ``SO_REUSEPORT``, so the
kernel spreads connections evenly over them. With one shared socket (uvicorn's
``--workers``) whichever process wakes first accepts a burst of connections: under
64 keep-alive clients one process held 60 of them and the other idled.

The supervisor starts the processes, starts a new one when one dies, and stops
them all on SIGINT or SIGTERM; a process that fails before it serves (a broken
configuration) stops the service rather than restart forever. Where the kernel does
not balance ``SO_REUSEPORT`` (it is Linux that does), uvicorn's own workers serve.
"""

import argparse
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from app.core.logs import configure_logging
from app.core.settings import Settings

APP = "app.main:create_app"
logger = logging.getLogger("app.server")


def serve(settings: Settings, app: str = APP) -> None:
    """Serve ``app`` (an application factory: the API unless a benchmark names another)
    on ``settings.host``:``settings.port`` until SIGINT or SIGTERM; exits with uvicorn's
    ``STARTUP_FAILURE`` (3) when the application fails to start."""
    processes = settings.api_processes
    if processes > 1:
        # Each process writes its metrics here, and any of them answers /metrics for all.
        shared = settings.data_dir / "prometheus"
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared.resolve())
    if processes == 1 or not balances_reuse_port():
        uvicorn.run(
            app,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=processes,
            log_config=None,  # the service's logging, configured in each process
            access_log=False,  # the service writes its own access line
        )
        return
    Supervisor(app, settings.host, settings.port, processes).run()


def balances_reuse_port() -> bool:
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def bound_socket(host: str, port: int, shared: bool = True) -> socket.socket:
    """A socket bound to ``host``:``port``: ``shared``, beside the other processes' (not
    listening yet: uvicorn listens once the application has started, so no connection
    waits on a process still starting); not shared, only if no one else has the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_process(app: str, host: str, port: int) -> None:
    """One API process (the supervisor's child); it exits with uvicorn's
    ``STARTUP_FAILURE`` when the application fails to start."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    sock = bound_socket(host, port)
    config = uvicorn.Config(
        app, factory=True, host=host, port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except Exception:
        if server.started:
            raise
        logger.exception("the application failed to start")
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    CHECK_SECONDS = 0.5

    def __init__(self, app: str, host: str, port: int, processes: int) -> None:
        self.app, self.host, self.port, self.count = app, host, port, processes
        self.processes: list[BaseProcess] = []
        self.stopping = threading.Event()
        self.failed = False  # a process failed to start: the service stops, exit code 3

    def run(self) -> None:
        # The port must be free: not shared, this fails (with the reason) when another
        # service, or another copy of this one, already listens there.
        bound_socket(self.host, self.port, shared=False).close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.processes = [self._start() for _ in range(self.count)]
        try:
            while not self.stopping.wait(self.CHECK_SECONDS):
                self._replace_dead()
            if self.failed:
                raise SystemExit(STARTUP_FAILURE)
        finally:
            for process in self.processes:
                if process.is_alive():
                    process.terminate()  # uvicorn's graceful shutdown, on SIGTERM
            for process in self.processes:
                process.join()

    def _start(self) -> BaseProcess:
        process = multiprocessing.get_context("spawn").Process(
            target=run_process, args=(self.app, self.host, self.port), name="api"
        )
        process.start()
        return process

    def _replace_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive():
                continue
            if process.exitcode == STARTUP_FAILURE:
                logger.error("API process %s failed to start; stopping the service", process.pid)
                self.failed = True
                self.stopping.set()
                return
            logger.error(
                "API process %s died (exit code %s); starting another", process.pid,
                process.exitcode,
            )  # fmt: skip
            self.processes[index] = self._start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default=APP, help="the application factory to serve")
    settings = Settings()
    settings.apply_umask()
    configure_logging(settings.log_format, settings.log_level)
    serve(settings, parser.parse_args().app)


if __name__ == "__main__":
    main()
