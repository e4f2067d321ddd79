"""How a training run reports where it is and learns that it must stop.

The run calls :meth:`Tracker.start` at each phase and :meth:`Tracker.advance` as
it goes (per batch of reviews, per training batch, per sentence of word-vector
training). Both are cheap: they only keep the latest count in memory, for the
worker's job watch to read and write to the job row when it moved. Every call
is also a stop point: at most every ``check_every`` seconds it asks
``should_stop`` and raises :class:`TrainingStopped` when told to, so a cancel
ends any phase within about that long. No TensorFlow here.
"""

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from app.jobs.progress import Phase, PhaseProgress


class TrainingStopped(Exception):
    """Raised at a stop point when the run's ``should_stop`` says so."""


class Tracker:
    def __init__(
        self, should_stop: Callable[[], bool] | None = None, check_every: float = 0.25
    ) -> None:
        self._should_stop = should_stop
        self._check_every = check_every
        self._lock = threading.Lock()
        self._phase: Phase | None = None
        self._unit: str | None = None
        self._total: int | None = None
        self._done = 0
        self._done_at_start = 0
        self._epoch: int | None = None
        self._started = 0.0  # monotonic
        self._started_at = datetime.now(UTC)
        self._last_check = 0.0
        self.stop_requested = False
        self.checkpoint_bytes: int | None = None  # the newest checkpoint's size

    def start(
        self,
        phase: Phase,
        total: int | None = None,
        unit: str | None = None,
        done: int = 0,
    ) -> None:
        """Enter ``phase`` (``done`` of ``total`` already behind it, when resuming);
        a stop point."""
        self.check()
        with self._lock:
            self._phase, self._total, self._unit = phase, total, unit
            self._done = self._done_at_start = done
            self._epoch = None
            self._started = time.monotonic()
            self._started_at = datetime.now(UTC)

    def update(self, done: int, epoch: int | None = None) -> None:
        """``done`` units of the phase are behind it (``epoch`` under way, in training)."""
        with self._lock:
            self._done = done
            if epoch is not None:
                self._epoch = epoch

    def advance(self, done: int) -> None:
        """:meth:`update`, and a stop point."""
        self.update(done)
        now = time.monotonic()
        if now - self._last_check >= self._check_every:
            self._last_check = now
            self.check()

    def check(self) -> None:
        """Raise :class:`TrainingStopped` when the run must stop."""
        if self.stopping():
            raise TrainingStopped(f"stopped while {self._phase or 'starting'}")

    def stopping(self) -> bool:
        """Whether the run must stop (remembered once true)."""
        if not self.stop_requested and self._should_stop is not None and self._should_stop():
            self.stop_requested = True
        return self.stop_requested

    def snapshot(self) -> PhaseProgress | None:
        """The latest reading, with the phase's rate and time left; None before any phase."""
        with self._lock:
            if self._phase is None:
                return None
            phase, total, unit, done, epoch = (
                self._phase,
                self._total,
                self._unit,
                self._done,
                self._epoch,
            )
            elapsed = time.monotonic() - self._started
            started_at, counted = self._started_at, done - self._done_at_start
        rate = counted / elapsed if elapsed > 0 and counted > 0 else None
        eta = (total - done) / rate if rate and total is not None else None
        now = started_at + timedelta(seconds=elapsed)
        return PhaseProgress(
            phase=phase,
            done=done,
            total=total,
            unit=unit,
            rate=round(rate, 2) if rate else None,
            eta_seconds=round(max(eta, 0.0), 1) if eta is not None else None,
            epoch=epoch,
            phase_started_at=started_at,
            updated_at=now,
        )
