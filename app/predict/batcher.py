"""Adaptive batching: the model is never idle while texts wait, and texts never wait
for a batch that cannot fill.

Requests put their texts in a queue. Up to ``max_calls`` model calls run at once,
each on an inference thread (off the event loop). Whenever one is free and texts
are waiting, the next batch is formed from everything queued, up to ``max_size``
texts: while the model is busy, arrivals pile up, so under load batches fill by
themselves; alone, a text goes at once. An arrival that finds the model idle waits
for more only when the recent arrival rate says the batch would fill within
``max_wait``, and never longer; texts that waited through a call go as it returns.
A request larger than ``max_size`` is split across batches. A batcher belongs to
one loaded model, so every text it scores names that model's version.

When a call returns, the next batch goes to the model before the finished batch's
requests are answered: answering them takes the event loop a while (a response
each), and the model would sit idle through it.
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from app.core import metrics


@dataclass
class _Chunk:
    texts: list[str]
    future: asyncio.Future[list[float]] = field(repr=False)
    queued_at: float = field(default_factory=time.perf_counter)


class BatcherClosed(RuntimeError):
    """The batcher was retired (its model was swapped out) before the texts arrived."""


class Batcher:
    def __init__(
        self,
        score: Callable[[list[str]], list[float]],
        executor: Executor,
        max_size: int,
        max_wait: float,
        max_calls: int = 1,
    ) -> None:
        self._score = score
        self._executor = executor
        self.max_size = max_size
        self.max_wait = max_wait
        self.max_calls = max_calls
        self._loop = asyncio.get_running_loop()
        self._waiting: deque[_Chunk] = deque()
        self._queued = 0  # texts waiting
        self._calls = 0  # model calls running
        self._dispatch_due = False  # a dispatch is scheduled on the loop
        self._fill_timer: asyncio.TimerHandle | None = None  # waiting for a batch to fill
        self._closed = False
        self._drained = asyncio.Event()  # closed, nothing queued or running
        self._arrival_gap = math.inf  # seconds between arrivals, smoothed; none seen yet
        self._last_arrival: float | None = None
        self.batches = 0  # model calls made, for tests and metrics
        self.largest_batch = 0

    def submit(self, texts: list[str]) -> list[asyncio.Future[list[float]]]:
        """Queue ``texts`` now (no await between the check and the put: a swap cannot
        slip in); returns one future per chunk."""
        if self._closed:
            raise BatcherClosed("this model was swapped out")
        now = time.perf_counter()
        if self._last_arrival is not None:
            gap = now - self._last_arrival
            self._arrival_gap = (
                gap if math.isinf(self._arrival_gap) else (0.8 * self._arrival_gap + 0.2 * gap)
            )
        self._last_arrival = now
        futures = []
        for start in range(0, len(texts), self.max_size):
            chunk = _Chunk(texts[start : start + self.max_size], self._loop.create_future(), now)
            self._waiting.append(chunk)
            self._queued += len(chunk.texts)
            futures.append(chunk.future)
        if not self._dispatch_due:
            # On the loop's next turn, not now: requests arriving together share a call.
            self._dispatch_due = True
            self._loop.call_soon(self._scheduled_dispatch)
        return futures

    async def score(self, texts: list[str]) -> list[float]:
        futures = self.submit(texts)
        if len(futures) == 1:  # most requests: no gather (a task and callbacks) for one
            return await futures[0]
        results = await asyncio.gather(*futures)
        return [probability for chunk in results for probability in chunk]

    async def close(self) -> None:
        """Score what is already queued, then stop."""
        self._closed = True
        self._dispatch(may_wait=False)
        self._check_drained()
        await self._drained.wait()

    def _scheduled_dispatch(self) -> None:
        self._dispatch_due = False
        self._dispatch()

    def _dispatch(self, may_wait: bool = True) -> None:
        """Start model calls while one is free and texts are waiting: at once, or
        after the wait for a batch to fill (``_fill_wait``)."""
        if self._fill_timer is not None:
            if may_wait and self._queued < self.max_size:
                return  # the timer will dispatch
            self._fill_timer.cancel()
            self._fill_timer = None
            may_wait = False
        while self._waiting and self._calls < self.max_calls:
            wait = self._fill_wait() if may_wait else 0.0
            if wait > 0:
                self._fill_timer = self._loop.call_later(wait, self._filled)
                return
            self._start(self._take())
            may_wait = True

    def _filled(self) -> None:
        self._fill_timer = None
        self._dispatch(may_wait=False)

    def _fill_wait(self) -> float:
        """How long to wait for the batch to fill: only when arrivals are quick enough
        to fill it within ``max_wait``; alone or under light load, not at all."""
        missing = self.max_size - self._queued
        if missing <= 0 or self._closed or self.max_wait <= 0:
            return 0.0
        expected = missing * self._arrival_gap
        return expected if expected <= self.max_wait else 0.0

    def _take(self) -> list[_Chunk]:
        batch, size = [], 0
        while self._waiting and size + len(self._waiting[0].texts) <= self.max_size:
            chunk = self._waiting.popleft()
            batch.append(chunk)
            size += len(chunk.texts)
        self._queued -= size
        return batch

    def _start(self, batch: list[_Chunk]) -> None:
        """Send ``batch`` to an inference thread now; its requests are answered when
        the call returns (``_answer``)."""
        texts = [text for chunk in batch for text in chunk.texts]
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(texts))
        metrics.BATCH_SIZE.observe(len(texts))
        now = time.perf_counter()
        for chunk in batch:
            metrics.QUEUE_WAIT.observe(now - chunk.queued_at)
        self._calls += 1
        try:
            call = self._loop.run_in_executor(self._executor, self._score, texts)
        except RuntimeError as error:  # the executor is shut down: fail the batch, not hang it
            call = self._loop.create_future()
            call.set_exception(error)
        call.add_done_callback(lambda done: self._answer(batch, done))

    def _answer(self, batch: list[_Chunk], call: asyncio.Future[list[float]]) -> None:
        self._calls -= 1
        # The next batch first (answering this one takes the loop a while), at once:
        # its texts waited through this call already.
        self._dispatch(may_wait=False)
        error = asyncio.CancelledError() if call.cancelled() else call.exception()
        scores = call.result() if error is None else []
        position = 0
        for chunk in batch:
            if not chunk.future.done():  # its request may have been cancelled
                if error is not None:
                    chunk.future.set_exception(error)
                else:
                    chunk.future.set_result(scores[position : position + len(chunk.texts)])
            position += len(chunk.texts)
        self._check_drained()

    def _check_drained(self) -> None:
        if self._closed and not self._waiting and self._calls == 0:
            self._drained.set()
