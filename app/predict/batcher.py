"""Adaptive, fair batching: the model is never idle while texts wait, texts never wait
for a batch that cannot fill, no client's flood delays another's review by more than
about one batch, and no request is queued that would wait past ``max_queue_wait``.

Requests put their texts in their client's queue. Up to ``max_calls`` model calls run
at once, each on an inference thread (off the event loop). Whenever one is free and
texts are waiting, the next batch (up to ``max_size`` texts) is formed from the
waiting clients in turn: each turn takes at most ``quantum`` texts from one client,
then the next client's turn comes (deficit round robin by texts, with requests split
wherever a turn or a batch ends). A client with one review is reached within a batch
however many thousands another client has queued; one client alone is served in
arrival order, as before. While the model is busy, arrivals pile up, so under load
batches fill by themselves; alone, a text goes at once. An arrival that finds the
model idle waits for more only when the recent arrival rate says the batch would fill
within ``max_wait``, and never longer; texts that waited through a call go as it
returns.

Admission: a request is refused at once (``Overloaded``) when its last text would
start its model call later than ``max_queue_wait`` from its arrival, estimated from
what the clients ahead of it in the rotation hold and the time of a full call
(``_note_call``), scaled by how far recent estimates fell short (``_calibrate``), and
reckoning its last call at the slow tail of recent calls (``_slow_tail``: its answer
then comes within the bound plus one call at their mean pace); a request that finds
nothing queued and nothing running is always taken. That bound is also each admitted
request's deadline: whenever its texts are due in a call, a request whose last ones
could no longer start in time, so reckoned, is dropped (503 after all, its texts not
yet scored never scored), and so are requests whose client left. Neither reaches the
model again.

When a call returns, the next batch goes to the model before the finished batch's
requests are answered: answering them takes the event loop a while (a response
each), and the model would sit idle through it. A batcher belongs to one loaded
model, so every text it scores names that model's version.
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from app.core import metrics

QUANTUM_SHARE = 8  # a client's turn: at most max_size / QUANTUM_SHARE texts
# The estimated waits are scaled to cover this share of the latest requests' real ones,
# of the last few seconds only: a scale nothing confirms lapses (see ``_calibrate``).
CALIBRATION_WINDOW, CALIBRATION_SHARE, CALIBRATION_SECONDS = 16, 0.9, 2.0
# A request's last call is reckoned at this share of the latest calls' times, not their
# mean (see ``_slow_tail``).
TAIL_WINDOW, TAIL_SHARE = 64, 0.95


@dataclass(eq=False)
class _Request:
    texts: list[str]
    future: asyncio.Future[list[float]] = field(repr=False)
    arrived: float  # when the request came: its wait counts from then
    expected: float  # seconds until its last call, as estimated at admission (unscaled)
    deadline: float  # its last call must start by then (inf: it found the model idle)
    on_deferred: Callable[[], None] | None = None  # told once, when a call leaves it waiting
    taken: int = 0  # texts handed to model calls so far
    scored: int = 0  # texts whose scores came back
    scores: list[float] | None = None  # filled slice by slice when split over calls


# A request's texts [start, end) in one model call.
_Slice = tuple[_Request, int, int]


class BatcherClosed(RuntimeError):
    """The batcher was retired (its model was swapped out) before the texts arrived."""


class Overloaded(RuntimeError):
    """Refused at admission, as the request would wait ``wait`` seconds for its model
    call, over ``max_queue_wait``; or (``dropped``) dropped from the queue, as its last
    texts would have waited ``wait`` seconds for theirs."""

    def __init__(self, wait: float, max_queue_wait: float, dropped: bool = False) -> None:
        done = "would have waited" if dropped else "would wait"
        super().__init__(
            f"{done} {wait * 1000:.0f} ms, over the limit of {max_queue_wait * 1000:.0f} ms"
        )
        self.wait = wait
        self.max_queue_wait = max_queue_wait
        self.dropped = dropped


class Batcher:
    def __init__(
        self,
        score: Callable[[list[str]], list[float]],
        executor: Executor,
        max_size: int,
        max_wait: float,
        max_calls: int = 1,
        max_queue_wait: float = math.inf,
    ) -> None:
        self._score = score
        self._executor = executor
        self.max_size = max_size
        self.max_wait = max_wait
        self.max_calls = max_calls
        self.max_queue_wait = max_queue_wait
        self.quantum = max(1, max_size // QUANTUM_SHARE)
        self._loop = asyncio.get_running_loop()
        self._queues: dict[str, deque[_Request]] = {}  # clients with texts waiting
        self._queued_by: dict[str, int] = {}  # texts waiting, by client
        self._turns: deque[str] = deque()  # the rotation; its head is taking its turn
        self._turn_left = 0  # texts the head client may still take in this turn
        self._queued = 0  # texts waiting, all clients
        # Texts admitted before their bodies were read (``hold``), until they are queued.
        self._held_by: dict[str, int] = {}
        self._held = 0
        self._calls = 0  # model calls running
        self._running_texts = 0  # texts in them
        # A full call's time, two averages of it (``_note_call``; 0: no call yet).
        self._call_fast = self._call_slow = 0.0
        self._half_full_seen = False  # a call at least half full was timed
        # The latest full calls' times, and how far their slow tail runs past their mean
        # (kept, not derived at each admission: a flood's refusals would sort it each).
        self._recent_calls: deque[float] = deque(maxlen=TAIL_WINDOW)
        self._tail = 0.0
        # (when, real wait over estimated) of the latest requests that waited long.
        self._shortfalls: deque[tuple[float, float]] = deque(maxlen=CALIBRATION_WINDOW)
        self._scale = 1.0  # the estimates' scale that covers most of them
        self._dispatch_due = False  # a dispatch is scheduled on the loop
        self._fill_timer: asyncio.TimerHandle | None = None  # waiting for a batch to fill
        self._closed = False
        self._drained = asyncio.Event()  # closed, nothing queued or running
        self._idle_waiters: list[asyncio.Future[None]] = []  # ``idle()`` callers
        self._arrival_gap = math.inf  # seconds between arrivals, smoothed; none seen yet
        self._last_arrival: float | None = None
        self.batches = 0  # model calls made, for tests and metrics
        self.largest_batch = 0

    def submit(
        self,
        texts: list[str],
        client: str = "",
        on_deferred: Callable[[], None] | None = None,
        arrived: float | None = None,
    ) -> asyncio.Future[list[float]]:
        """Queue ``texts`` for ``client`` now (no await between the check and the put: a
        swap cannot slip in); the future's result is their scores, in order. Raises
        ``Overloaded`` when they would wait too long. ``on_deferred`` is called once if a
        model call starts without all of them: they will wait at least one more call
        (the hot path then watches for the client leaving). ``arrived``: when the
        request came (``time.perf_counter``), where its wait counts from; default now."""
        if self._closed:
            raise BatcherClosed("this model was swapped out")
        idle = self._idle()
        now = time.perf_counter()
        arrived = now if arrived is None else min(arrived, now)
        estimate = self.admit(client, len(texts), waited=now - arrived)
        if self._last_arrival is not None:
            gap = now - self._last_arrival
            self._arrival_gap = (
                gap if math.isinf(self._arrival_gap) else (0.8 * self._arrival_gap + 0.2 * gap)
            )
        self._last_arrival = now
        deadline = math.inf if idle else arrived + self.max_queue_wait
        expected = now - arrived + estimate
        request = _Request(
            texts, self._loop.create_future(), arrived, expected, deadline, on_deferred
        )
        queue = self._queues.get(client)
        if queue is None:
            queue = self._queues[client] = deque()
            self._queued_by[client] = 0
            self._turns.append(client)
            if len(self._turns) == 1:
                self._turn_left = self.quantum
        queue.append(request)
        self._queued_by[client] += len(texts)
        self._queued += len(texts)
        if not self._dispatch_due:
            # On the loop's next turn, not now: requests arriving together share a call.
            self._dispatch_due = True
            self._loop.call_soon(self._scheduled_dispatch)
        return request.future

    async def score(
        self,
        texts: list[str],
        client: str = "",
        on_deferred: Callable[[], None] | None = None,
        arrived: float | None = None,
    ) -> list[float]:
        return await self.submit(texts, client, on_deferred, arrived)

    def hold(self, client: str, count: int) -> Callable[[], None]:
        """Admits ``count`` texts from ``client`` before its request's body is read
        (``Overloaded`` otherwise) and counts them as waiting until the returned release
        is called (once they are submitted, or never will be). Without the hold, the
        requests arriving while the model was idle were all admitted, then most refused
        once parsed: under a flood, parsing spent 40% of the event loop."""
        self.admit(client, count)
        self._held_by[client] = self._held_by.get(client, 0) + count
        self._held += count
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._held -= count
                left = self._held_by[client] - count
                if left:
                    self._held_by[client] = left
                else:
                    del self._held_by[client]
                self._check_idle()

        return release

    def admit(self, client: str, count: int, waited: float = 0.0) -> float:
        """Raises ``Overloaded`` when ``count`` more texts from ``client``, whose request
        came ``waited`` seconds ago, would wait for their model call longer than
        ``max_queue_wait`` from then, their last call reckoned at the slow tail of
        recent calls (``_slow_tail``); returns the unscaled estimate from now. The time
        already waited counts only with something ahead to wait for."""
        estimate = self._estimated_wait(client, count)
        wait = waited + estimate * self.scale + self._tail
        if estimate and wait > self.max_queue_wait:
            metrics.PREDICT_SHED.labels(reason="over_max_wait").inc()
            raise Overloaded(wait, self.max_queue_wait)
        return estimate

    def expected_wait(self, client: str, count: int) -> float:
        """Seconds until the last of ``count`` new texts from ``client`` would start its
        model call, as admission reckons it: estimated, then scaled by how far recent
        estimates fell short."""
        return self._estimated_wait(client, count) * self.scale

    @property
    def scale(self) -> float:
        """How far the estimated waits are scaled up at admission (1: trusted as they
        are). It lapses ``CALIBRATION_SECONDS`` after the latest long wait noted."""
        if self._shortfalls and self._shortfalls[-1][0] > time.perf_counter() - CALIBRATION_SECONDS:
            return self._scale
        return 1.0

    def _idle(self) -> bool:
        return self._queued == 0 and self._held == 0 and self._calls == 0

    def _estimated_wait(self, client: str, count: int) -> float:
        """In the rotation each other client gets served up to as many texts as this
        one then holds; the batches those make wait for the calls running, each at the
        smoothed time of a full call."""
        if self._idle():
            return 0.0  # the model is idle: it goes at once (a refusal would help nobody)
        if self._full_call <= 0.0:
            return 0.0  # no full call measured yet: nothing to estimate with
        mine = self._queued_by.get(client, 0) + self._held_by.get(client, 0) + count
        ahead = mine
        for other in self._queued_by.keys() | self._held_by.keys():
            if other != client:
                waiting = self._queued_by.get(other, 0) + self._held_by.get(other, 0)
                ahead += min(waiting, mine)
        batches_before_mine = math.ceil(ahead / self.max_size) - 1
        running = self._running_texts / self.max_size  # in full calls
        return (batches_before_mine + running) * self._full_call / self.max_calls

    async def idle(self) -> None:
        """Returns once nothing is queued, held or running: at once if so now."""
        while not self._idle():
            waiter = self._loop.create_future()
            self._idle_waiters.append(waiter)
            await waiter  # woken when it may be idle; checked again

    async def close(self) -> None:
        """Score what is already queued, then stop."""
        self._closed = True
        self._dispatch(may_wait=False)
        self._check_idle()
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
        while self._queued and self._calls < self.max_calls:
            wait = self._fill_wait() if may_wait else 0.0
            if wait > 0:
                self._fill_timer = self._loop.call_later(wait, self._filled)
                return
            batch = self._take()
            if not batch:
                self._check_idle()
                break  # everything waiting was dropped
            self._start(batch)
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

    def _take(self) -> list[_Slice]:
        """The next batch: the clients' turns in rotation, each at most ``quantum``
        texts; a turn cut short by a full batch goes on in the next one."""
        batch: list[_Slice] = []
        room = self.max_size
        now = time.perf_counter()
        while room and self._turns:
            client = self._turns[0]
            queue = self._queues[client]
            while queue and room and self._turn_left:
                request = queue[0]
                if request.future.done():
                    self._drop(client, queue.popleft())
                    continue
                last_starts = self._last_starts(request, now, first=room)
                if last_starts + self._tail > request.deadline:
                    self._calibrate(request, last_starts)
                    wait = last_starts + self._tail - request.arrived
                    self._drop(client, queue.popleft(), wait)
                    continue
                count = min(len(request.texts) - request.taken, room, self._turn_left)
                batch.append((request, request.taken, request.taken + count))
                request.taken += count
                room -= count
                self._turn_left -= count
                self._queued_by[client] -= count
                self._queued -= count
                if request.taken == len(request.texts):
                    queue.popleft()
            if not queue:  # nothing left: out of the rotation
                del self._queues[client], self._queued_by[client]
                self._turns.popleft()
                self._turn_left = self.quantum
            elif not self._turn_left:  # its turn is over: the next client's
                self._turns.rotate(-1)
                self._turn_left = self.quantum
        if self._queued:  # these wait for another call at least
            for queue in self._queues.values():
                for request in queue:
                    if request.on_deferred is not None:
                        request.on_deferred()
                        request.on_deferred = None
        return batch

    def _last_starts(self, request: _Request, now: float, first: int) -> float:
        """When, its next texts (at most ``first``) starting a call now, its last ones
        would start: after the calls its other texts fill (timed as the estimates are,
        scaled). Counted by its size alone, a request whose first texts end a batch was
        a call short, and under a flood of four-call requests their p99 ran past the
        bound plus one call. Asked again before each of its calls: when the calls slow
        down after its first, its last texts would otherwise start late all the same."""
        left = len(request.texts) - request.taken
        calls_after_next = math.ceil(max(0, left - first) / self.max_size)
        return now + calls_after_next * self._full_call * self.scale / self.max_calls

    def _calibrate(self, request: _Request, last_starts: float) -> None:
        """Notes how long ``request`` waits for its last call against its estimate,
        and rescales the estimates to cover ``CALIBRATION_SHARE`` of the latest such
        waits. Measured, the estimates are right on average, but under a flood the
        calls' times swing (the event loops' refusals take the cores), and the waits
        with them: without the scale, admitted requests waited up to twice the bound.
        Only waits of two calls or more count: shorter ones, however far off, risk no
        bound. Only the last ``CALIBRATION_SECONDS`` count: a stall's scale refuses the
        long waits that would show it gone, and once stuck it refused most of a bulk
        client's requests with no flood at all."""
        if not self._full_call or request.expected < 2 * self._full_call / self.max_calls:
            return
        now = time.perf_counter()
        self._shortfalls.append((now, (last_starts - request.arrived) / request.expected))
        while self._shortfalls[0][0] < now - CALIBRATION_SECONDS:
            self._shortfalls.popleft()
        if len(self._shortfalls) < CALIBRATION_WINDOW // 4:
            self._scale = 1.0  # too few to say
            return
        ordered = sorted(shortfall for _, shortfall in self._shortfalls)
        self._scale = max(1.0, ordered[int(CALIBRATION_SHARE * (len(ordered) - 1))])

    def _drop(self, client: str, request: _Request, wait: float = 0.0) -> None:
        """A request whose texts left will not be scored: its client left, or its last
        texts could not start their call by its deadline (they would have waited
        ``wait``)."""
        left = len(request.texts) - request.taken
        self._queued_by[client] -= left
        self._queued -= left
        if request.future.done():
            metrics.PREDICT_SHED.labels(reason="client_gone").inc()
            return
        metrics.PREDICT_SHED.labels(reason="deadline_passed").inc()
        request.future.set_exception(Overloaded(wait, self.max_queue_wait, dropped=True))

    def _start(self, batch: list[_Slice]) -> None:
        """Send ``batch`` to an inference thread now; its requests are answered when
        the call returns (``_answer``)."""
        texts = [text for request, start, end in batch for text in request.texts[start:end]]
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(texts))
        metrics.BATCH_SIZE.observe(len(texts))
        now = time.perf_counter()
        for request, start, end in batch:
            if start == 0:
                metrics.QUEUE_WAIT.observe(now - request.arrived)
            if end == len(request.texts):
                self._calibrate(request, now)
        self._calls += 1
        self._running_texts += len(texts)
        try:
            call = self._loop.run_in_executor(self._executor, self._score, texts)
        except RuntimeError as error:  # the executor is shut down: fail the batch, not hang it
            call = self._loop.create_future()
            call.set_exception(error)
        call.add_done_callback(lambda done: self._answer(batch, len(texts), now, done))

    def _answer(
        self, batch: list[_Slice], size: int, started: float, call: asyncio.Future[list[float]]
    ) -> None:
        self._calls -= 1
        self._running_texts -= size
        took = time.perf_counter() - started
        metrics.MODEL_CALL.observe(took)
        if size * 2 >= self.max_size or not self._half_full_seen:
            self._note_call(took * self.max_size / size, half_full=size * 2 >= self.max_size)
        # The next batch first (answering this one takes the loop a while), at once:
        # its texts waited through this call already.
        self._dispatch(may_wait=False)
        error = asyncio.CancelledError() if call.cancelled() else call.exception()
        scores = call.result() if error is None else []
        position = 0
        for request, start, end in batch:
            count = end - start
            if not request.future.done():  # its request may have been cancelled
                if error is not None:
                    request.future.set_exception(error)
                elif count == len(request.texts):  # most requests: whole in one call
                    request.future.set_result(scores[position : position + count])
                else:
                    if request.scores is None:
                        request.scores = [0.0] * len(request.texts)
                    request.scores[start:end] = scores[position : position + count]
                    request.scored += count
                    if request.scored == len(request.texts):
                        request.future.set_result(request.scores)
            position += count
        self._check_idle()

    def _note_call(self, full: float, half_full: bool) -> None:
        """Notes a call's time scaled to a full batch: from calls at least half full, and
        before the first of those from any call (its fixed cost spread over fewer texts
        reads long: admission errs safe; without it, a flood's first requests were all
        admitted, then most dropped). The estimate is the larger of a fast average (a
        few calls: a slow phase shows at once) and a slow one (about 50 calls): under a
        flood the calls' times swing by two or three, and requests admitted in a fast
        phase at its pace were dropped when the next slow phase came."""
        first_measure = half_full and not self._half_full_seen  # replaces the guesses
        if first_measure or not self._call_fast:
            self._half_full_seen = half_full
            self._call_fast = self._call_slow = full
        else:
            self._call_fast = 0.8 * self._call_fast + 0.2 * full
            self._call_slow = 0.98 * self._call_slow + 0.02 * full
        if half_full:
            self._recent_calls.append(full)
            self._tail = self._slow_tail()

    def _slow_tail(self) -> float:
        """How much longer than the latest calls' mean their slow tail (``TAIL_SHARE``
        of them) runs, at most a quarter of the bound: admission and the deadlines reckon
        a request's last call that much later, so that its answer comes within the bound
        plus one call at the mean pace. Under a flood the calls' times swing by two or
        three, and reckoned at the mean, the requests admitted up to the bound were
        answered (at p99) 10 to 40 ms past that."""
        if len(self._recent_calls) < TAIL_WINDOW // 4:
            return 0.0  # too few to say
        ordered = sorted(self._recent_calls)
        mean = sum(ordered) / len(ordered)
        slow = ordered[int(TAIL_SHARE * (len(ordered) - 1))]
        return min(max(0.0, slow - mean), self.max_queue_wait / 4)

    @property
    def _full_call(self) -> float:
        """Seconds a full batch takes, as estimated (``_note_call``; 0: no call yet)."""
        return max(self._call_fast, self._call_slow)

    def _check_idle(self) -> None:
        """Where it may have become idle: wakes ``idle()``'s callers, ends ``close()``."""
        if self._idle_waiters and self._idle():
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():  # its caller may have stopped waiting
                    waiter.set_result(None)
        if self._closed and not self._queued and self._calls == 0:
            self._drained.set()
