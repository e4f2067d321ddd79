"""Dynamic batching, as TensorFlow Serving does it.

Requests put their texts in a queue; one loop takes the first waiting texts,
gathers more until the batch holds ``max_size`` texts or ``max_wait`` seconds
have passed since the first, and scores them in one model call on the inference
thread (off the event loop). Under load the queue is never empty, so batches
fill at once; alone, a request waits at most ``max_wait``. A request larger than
``max_size`` is split across batches. A batcher belongs to one loaded model, so
every text it scores names that model's version.
"""

import asyncio
import time
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
    ) -> None:
        self._score = score
        self._executor = executor
        self.max_size = max_size
        self.max_wait = max_wait
        self._queue: asyncio.Queue[_Chunk | None] = asyncio.Queue()
        self._closed = False
        self.batches = 0  # model calls made, for tests and metrics
        self.largest_batch = 0
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, texts: list[str]) -> list[asyncio.Future[list[float]]]:
        """Queue ``texts`` now (no await between the check and the put: a swap cannot
        slip in); returns one future per chunk."""
        if self._closed:
            raise BatcherClosed("this model was swapped out")
        loop = asyncio.get_running_loop()
        futures = []
        for start in range(0, len(texts), self.max_size):
            chunk = _Chunk(texts[start : start + self.max_size], loop.create_future())
            self._queue.put_nowait(chunk)
            futures.append(chunk.future)
        return futures

    async def score(self, texts: list[str]) -> list[float]:
        results = await asyncio.gather(*self.submit(texts))
        return [probability for chunk in results for probability in chunk]

    async def close(self) -> None:
        """Score what is already queued, then stop."""
        self._closed = True
        self._queue.put_nowait(None)
        await self._loop_task

    async def _run(self) -> None:
        carried: _Chunk | None = None
        loop = asyncio.get_running_loop()
        while True:
            first = carried or await self._queue.get()
            carried = None
            if first is None:
                return
            batch, size, stop = [first], len(first.texts), False
            deadline = loop.time() + self.max_wait
            while size < self.max_size:
                try:
                    chunk = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        chunk = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if chunk is None:
                    stop = True
                    break
                if size + len(chunk.texts) > self.max_size:
                    carried = chunk
                    break
                batch.append(chunk)
                size += len(chunk.texts)
            await self._call(batch, size)
            if stop:
                return

    async def _call(self, batch: list[_Chunk], size: int) -> None:
        texts = [text for chunk in batch for text in chunk.texts]
        self.batches += 1
        self.largest_batch = max(self.largest_batch, size)
        metrics.BATCH_SIZE.observe(size)
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
