"""Adaptive batching: the model is never idle while texts wait, and texts never wait
for a batch that cannot fill.

Requests put their texts in a queue. Up to ``max_calls`` model calls run at once,
each on an inference thread (off the event loop). Whenever one is free and texts
are waiting, the next batch is formed from everything queued, up to ``max_size``
texts: while the model is busy, arrivals pile up, so under load batches fill by
themselves; alone, a text goes at once. The batcher waits for more only when the
recent arrival rate says the batch would fill within ``max_wait``, and never
longer. A request larger than ``max_size`` is split across batches. A batcher
belongs to one loaded model, so every text it scores names that model's version.
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from app import metrics


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
        self._waiting: deque[_Chunk] = deque()
        self._queued = 0  # texts waiting
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._closed = False
        self._arrival_gap = math.inf  # seconds between arrivals, smoothed; none seen yet
        self._last_arrival: float | None = None
        self.batches = 0  # model calls made, for tests and metrics
        self.largest_batch = 0
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, texts: list[str]) -> list[asyncio.Future[list[float]]]:
        """Queue ``texts`` now (no await between the check and the put: a swap cannot
        slip in); returns one future per chunk."""
        if self._closed:
            raise BatcherClosed("this model was swapped out")
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        if self._last_arrival is not None:
            gap = now - self._last_arrival
            self._arrival_gap = (
                gap if math.isinf(self._arrival_gap) else (0.8 * self._arrival_gap + 0.2 * gap)
            )
        self._last_arrival = now
        futures = []
        for start in range(0, len(texts), self.max_size):
            chunk = _Chunk(texts[start : start + self.max_size], loop.create_future(), now)
            self._waiting.append(chunk)
            self._queued += len(chunk.texts)
            futures.append(chunk.future)
        self._wake.set()
        return futures

    async def score(self, texts: list[str]) -> list[float]:
        results = await asyncio.gather(*self.submit(texts))
        return [probability for chunk in results for probability in chunk]

    async def close(self) -> None:
        """Score what is already queued, then stop."""
        self._closed = True
        self._wake.set()
        await self._loop_task

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                if self._closed:
                    break
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._running) >= self.max_calls:
                # Every call is busy: texts keep piling up for the next batch.
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                continue
            await self._maybe_wait_to_fill()
            batch = self._take()
            task = asyncio.get_running_loop().create_task(self._call(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        if self._running:
            await asyncio.wait(self._running)

    async def _maybe_wait_to_fill(self) -> None:
        """Wait for the batch to fill only when arrivals are quick enough to fill it
        within ``max_wait``; alone or under light load, never."""
        missing = self.max_size - self._queued
        if missing <= 0 or self._closed or self.max_wait <= 0:
            return
        expected = missing * self._arrival_gap
        if expected <= self.max_wait:
            await asyncio.sleep(expected)

    def _take(self) -> list[_Chunk]:
        batch, size = [], 0
        while self._waiting and size + len(self._waiting[0].texts) <= self.max_size:
            chunk = self._waiting.popleft()
            batch.append(chunk)
            size += len(chunk.texts)
        self._queued -= size
        return batch

    async def _call(self, batch: list[_Chunk]) -> None:
        texts = [text for chunk in batch for text in chunk.texts]
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(texts))
        metrics.BATCH_SIZE.observe(len(texts))
        now = time.perf_counter()
        for chunk in batch:
            metrics.QUEUE_WAIT.observe(now - chunk.queued_at)
        try:
            scores = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._score, texts
            )
        except Exception as error:
            for chunk in batch:
                if not chunk.future.done():
                    chunk.future.set_exception(error)
            return
        position = 0
        for chunk in batch:
            if not chunk.future.done():  # its request may have been cancelled
                chunk.future.set_result(scores[position : position + len(chunk.texts)])
            position += len(chunk.texts)
