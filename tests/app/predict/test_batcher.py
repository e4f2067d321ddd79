"""The batcher's contract, with a plain scoring function in place of a model:
which texts share a call, in which order their scores come back, whose turn it is, what
is refused or dropped, and how it stops."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.predict import batcher as batcher_module
from app.predict.batcher import Batcher, BatcherClosed, Overloaded
from app.predict.fast import ClientWatch


class Recorder:
    """Scores a text by its length and records each call's batch."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> list[float]:
        self.calls.append(list(texts))
        if self.fail_on in texts:
            raise ValueError("the model failed")
        return [float(len(text)) for text in texts]


def run(scenario):
    async def wrapped():
        with ThreadPoolExecutor(max_workers=1) as executor:
            return await scenario(executor)

    return asyncio.run(wrapped())


def test_concurrent_requests_share_one_call_and_get_their_own_scores():
    recorder = Recorder()

    async def scenario(executor):
        batcher = Batcher(recorder, executor, max_size=64, max_wait=0.05)
        texts = [["a"], ["bb", "ccc"], ["dddd"]]
        results = await asyncio.gather(*(batcher.score(t) for t in texts))
        await batcher.close()
        return results

    assert run(scenario) == [[1.0], [2.0, 3.0], [4.0]]
    assert recorder.calls == [["a", "bb", "ccc", "dddd"]]


def test_batches_never_exceed_the_maximum_size_and_large_requests_are_split():
    recorder = Recorder()

    async def scenario(executor):
        batcher = Batcher(recorder, executor, max_size=4, max_wait=0.05)
        big = [str(i) * (i + 1) for i in range(10)]
        small = ["x", "yy"]
        results = await asyncio.gather(batcher.score(big), batcher.score(small))
        await batcher.close()
        return big, results

    big, (big_scores, small_scores) = run(scenario)
    assert big_scores == [float(len(t)) for t in big]
    assert small_scores == [1.0, 2.0]
    assert all(len(call) <= 4 for call in recorder.calls)
    assert sum(len(call) for call in recorder.calls) == 12


def test_a_failed_call_fails_its_requests_and_the_batcher_keeps_serving():
    recorder = Recorder(fail_on="boom")

    async def scenario(executor):
        batcher = Batcher(recorder, executor, max_size=8, max_wait=0.0)
        with pytest.raises(ValueError, match="the model failed"):
            await batcher.score(["boom"])
        after = await batcher.score(["fine"])
        await batcher.close()
        return after

    assert run(scenario) == [4.0]


def test_closing_scores_what_is_queued_then_refuses_new_texts():
    recorder = Recorder()

    async def scenario(executor):
        batcher = Batcher(recorder, executor, max_size=2, max_wait=0.01)
        queued = [batcher.submit([c]) for c in "abcde"]
        await batcher.close()
        with pytest.raises(BatcherClosed):
            batcher.submit(["late"])
        return [future.result() for future in queued]  # all done before close returned

    assert run(scenario) == [[1.0]] * 5


class Gate(Recorder):
    """Holds its first call until released, as a slow model would."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.entered, self.release = threading.Event(), threading.Event()
        self.concurrent = self.most_concurrent = 0
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[float]:
        with self._lock:
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
        self.entered.set()
        self.release.wait(5)
        with self._lock:
            self.concurrent -= 1
        return super().__call__(texts)


def test_idle_waits_until_nothing_is_queued_held_or_running():
    gate = Gate()

    async def scenario(executor):
        batcher = Batcher(gate, executor, max_size=1, max_wait=0.0)
        await batcher.idle()  # nothing yet: at once
        running = asyncio.ensure_future(batcher.score(["a"], "x"))
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 5)
        queued = asyncio.ensure_future(batcher.score(["b"], "y"))
        release = batcher.hold("z", 1)  # a request whose body is still being read
        idle = asyncio.ensure_future(batcher.idle())
        await asyncio.sleep(0.05)
        seen = [idle.done()]  # a call running, a text queued, one held
        gate.release.set()
        await asyncio.gather(running, queued)
        await asyncio.sleep(0.01)
        seen.append(idle.done())  # both scored, the held text still counts
        release()
        await asyncio.wait_for(idle, 5)
        await batcher.close()
        return seen

    assert run(scenario) == [False, False]


def test_alone_a_text_goes_at_once_and_arrivals_during_a_call_share_the_next():
    gate = Gate()

    async def scenario(executor):
        # A long allowed wait: a lone text must not sit through it.
        batcher = Batcher(gate, executor, max_size=64, max_wait=60.0)
        first = asyncio.ensure_future(batcher.score(["first"]))
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 5)
        later = [asyncio.ensure_future(batcher.score([c])) for c in "abcde"]
        await asyncio.sleep(0.05)  # they pile up while the model is busy
        gate.release.set()
        results = await asyncio.gather(first, *later)
        await batcher.close()
        return results

    assert run(scenario) == [[5.0], [1.0], [1.0], [1.0], [1.0], [1.0]]
    assert gate.calls == [["first"], ["a", "b", "c", "d", "e"]]


def test_up_to_max_calls_run_at_once():
    gate = Gate()

    async def scenario(executor):
        batcher = Batcher(gate, executor, max_size=1, max_wait=0.0, max_calls=2)
        pending = [asyncio.ensure_future(batcher.score([c])) for c in "xyz"]
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 5)
        await asyncio.sleep(0.05)
        busy = gate.concurrent
        gate.release.set()
        await asyncio.gather(*pending)
        await batcher.close()
        return busy

    async def wrapped():
        with ThreadPoolExecutor(max_workers=2) as executor:
            return await scenario(executor)

    assert asyncio.run(wrapped()) == 2  # two calls held at once, the third waiting
    assert gate.most_concurrent == 2 and len(gate.calls) == 3


def test_the_next_batch_goes_to_the_model_before_the_finished_one_is_answered():
    """Texts that piled up during a call go at once when it returns (they waited
    through it already, so no wait to fill), before its requests are answered."""
    gate = Gate()

    async def scenario(executor):
        # Arrivals 10 ms apart would fill 64 within the allowed wait: an arrival
        # finding the model idle might wait; texts that waited through a call do not.
        batcher = Batcher(gate, executor, max_size=64, max_wait=60.0)
        first = asyncio.ensure_future(batcher.score(["first"]))
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 5)
        later = []
        for c in "abc":
            later.append(asyncio.ensure_future(batcher.score([c])))
            await asyncio.sleep(0.01)
        gate.release.set()
        await first
        started_when_first_answered = batcher.batches
        await asyncio.gather(*later)
        await batcher.close()
        return started_when_first_answered

    assert run(scenario) == 2
    assert gate.calls == [["first"], ["a", "b", "c"]]


def test_an_arrival_finding_the_model_idle_waits_while_the_batch_would_fill_in_time():
    """Arrivals 0.5 s apart would fill three texts within the allowed 5 s: "b" waits
    for company, and the batch goes as soon as it is full, not when the wait ends."""
    recorder = Recorder()

    async def scenario(executor):
        batcher = Batcher(recorder, executor, max_size=3, max_wait=5.0)
        await batcher.score(["a"])  # no arrival rate known yet: at once
        await asyncio.sleep(0.5)
        pending = [asyncio.ensure_future(batcher.score(["b"]))]
        for c in "cd":
            await asyncio.sleep(0.01)
            pending.append(asyncio.ensure_future(batcher.score([c])))
        await asyncio.gather(*pending)
        await batcher.close()

    run(scenario)
    assert recorder.calls == [["a"], ["b", "c", "d"]]


def test_texts_sent_after_the_inference_threads_are_gone_fail_instead_of_hanging():
    recorder = Recorder()

    async def scenario(executor):
        batcher = Batcher(recorder, executor, max_size=8, max_wait=0.0)
        executor.shutdown()
        with pytest.raises(RuntimeError, match="shutdown"):
            await asyncio.wait_for(batcher.score(["late"]), timeout=30)
        await batcher.close()

    run(scenario)
    assert recorder.calls == []


def test_a_flood_does_not_delay_another_clients_review_past_one_batch():
    """One client queues 400 texts while the model is busy; another's one review goes
    in the very next call, beside the flood's, not after it."""
    gate = Gate()

    async def scenario(executor):
        batcher = Batcher(gate, executor, max_size=16, max_wait=0.0)
        first = asyncio.ensure_future(batcher.score(["held"], "flood"))
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 5)
        flood = [
            asyncio.ensure_future(batcher.score([f"f{i}-{j}" for j in range(40)], "flood"))
            for i in range(10)
        ]
        await asyncio.sleep(0.01)
        mine = asyncio.ensure_future(batcher.score(["mine"], "reader"))
        await asyncio.sleep(0.01)
        gate.release.set()
        results = await asyncio.gather(first, mine, *flood)
        await batcher.close()
        return results

    results = run(scenario)
    assert results[1] == [4.0]
    assert [len(r) for r in results[2:]] == [40] * 10  # every flood text scored, in order
    assert results[2] == [float(len(f"f0-{j}")) for j in range(40)]
    assert gate.calls[0] == ["held"]
    assert "mine" in gate.calls[1] and len(gate.calls[1]) == 16
    assert all(len(call) <= 16 for call in gate.calls)


def test_clients_take_turns_of_a_quantum_and_one_client_alone_keeps_its_order():
    gate = Gate()

    async def scenario(executor):
        batcher = Batcher(gate, executor, max_size=8, max_wait=0.0)  # a turn: 1 text
        first = asyncio.ensure_future(batcher.score(["held"], "a"))
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 5)
        pending = [
            asyncio.ensure_future(batcher.score(["a1", "a2", "a3", "a4", "a5"], "a")),
            asyncio.ensure_future(batcher.score(["b1", "b2"], "b")),
            asyncio.ensure_future(batcher.score(["c1"], "c")),
            asyncio.ensure_future(batcher.score(["a6"], "a")),
        ]
        await asyncio.sleep(0.01)
        gate.release.set()
        await asyncio.gather(first, *pending)
        await batcher.close()

    run(scenario)
    # "a" is first in the rotation (its held call made it), then b, then c.
    assert gate.calls[1] == ["a1", "b1", "c1", "a2", "b2", "a3", "a4", "a5"]
    assert gate.calls[2] == ["a6"]


class Slow(Recorder):
    """A model whose every call takes ``seconds``, whatever its size."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def __call__(self, texts: list[str]) -> list[float]:
        import time

        time.sleep(self.seconds)
        return super().__call__(texts)


def test_a_request_that_would_wait_too_long_is_refused_at_once_and_others_still_get_in():
    slow = Slow(0.2)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=4, max_wait=0.0, max_queue_wait=0.5)
        alone = await batcher.score(list("abcdefghijkl"), "flood")  # idle: always taken
        busy = asyncio.ensure_future(batcher.score(list("mnop"), "flood"))
        await asyncio.sleep(0.05)  # a full call running: its time is known
        queued = [asyncio.ensure_future(batcher.score(list("qrst"), "flood"))]
        with pytest.raises(Overloaded) as refused:
            batcher.submit(list("uvwxyz0123456789"), "flood")  # five calls ahead of its last
        queued.append(asyncio.ensure_future(batcher.score(["one"], "reader")))
        await asyncio.gather(busy, *queued)
        await batcher.close()
        return alone, refused.value

    alone, refused = run(scenario)
    assert len(alone) == 12
    assert refused.wait > refused.max_queue_wait == 0.5
    assert "would wait" in str(refused) and not refused.dropped
    assert slow.calls[4] == ["q", "one", "r", "s"]  # the next call after the running one
    assert all("u" not in call for call in slow.calls)  # the refused texts never queued


def test_the_time_a_request_already_waited_counts_at_its_admission():
    """Its body read after its headers came: the wait counts from its headers, so one
    that would start in time from now but not from then is refused at once, not
    queued to be dropped at its deadline."""
    slow = Slow(0.2)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=4, max_wait=0.0, max_queue_wait=0.5)
        now = time.perf_counter()
        idle = await batcher.score(["a"], "x", arrived=now - 1.0)  # idle: always taken
        await batcher.score(list("bcde"), "x")  # a full call: its time is known
        running = asyncio.ensure_future(batcher.score(list("fghi"), "x"))
        await asyncio.sleep(0.05)
        fresh = asyncio.ensure_future(batcher.score(["j"], "y", arrived=time.perf_counter()))
        with pytest.raises(Overloaded) as refused:
            batcher.submit(["k"], "z", arrived=time.perf_counter() - 0.4)
        results = await asyncio.gather(running, fresh)
        await batcher.close()
        return idle, results, refused.value

    idle, (running, fresh), refused = run(scenario)
    assert idle == [1.0] and running == [1.0] * 4 and fresh == [1.0]
    assert not refused.dropped and refused.wait > 0.5  # 0.4 waited and a call's rest
    assert all("k" not in call for call in slow.calls)


def test_before_any_half_full_call_admission_reckons_from_smaller_ones():
    """A small call's fixed cost spread over a full batch reads long: admission errs
    safe. Estimating nothing, a flood's first requests were all admitted, then most of
    them dropped at their deadlines."""
    slow = Slow(0.1)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=8, max_wait=0.0, max_queue_wait=0.5)
        await batcher.score(["a"])  # one text in 0.1 s: a full call reckoned at 0.8 s
        running = asyncio.ensure_future(batcher.score(["b"], "x"))
        await asyncio.sleep(0.02)
        with pytest.raises(Overloaded):  # a call of its own after the one it fills
            batcher.submit(list("cdefghijklmnopqr"), "y")
        await running
        await batcher.score(list("abcdefgh"))  # a full call timed: 0.1 s
        running = asyncio.ensure_future(batcher.score(["b"], "x"))
        await asyncio.sleep(0.02)
        admitted = await batcher.score(list("cdefghijklmnopqr"), "y")
        await running
        await batcher.close()
        return admitted

    assert run(scenario) == [1.0] * 16


def test_a_run_of_fast_calls_does_not_bring_the_estimate_down_at_once():
    """Under a flood the calls' times swing in phases: requests admitted at a fast
    phase's pace were dropped when the slow one came back."""
    slow = Slow(0.05)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=2, max_wait=0.0)
        for _ in range(10):
            await batcher.score(["a", "b"])
        slow.seconds = 0.005
        for _ in range(10):
            await batcher.score(["a", "b"])
        release = batcher.hold("x", 2)  # a batch ahead of the next client's
        after_fast = batcher.expected_wait("y", 2)
        release()
        await batcher.close()
        return after_fast

    # The fast calls' average alone is about 10 ms; the slow average keeps about 40.
    assert run(scenario) > 0.03


def test_texts_held_before_their_bodies_are_read_count_as_waiting_until_released():
    slow = Slow(0.2)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=4, max_wait=0.0, max_queue_wait=0.5)
        await batcher.score(list("abcd"), "flood")  # a full call: its time is known
        idle = batcher.expected_wait("flood", 4)
        first = batcher.hold("flood", 4)  # the model idle: taken at once
        held_one = batcher.expected_wait("flood", 4)  # one batch ahead now
        second = batcher.hold("flood", 4)
        with pytest.raises(Overloaded):  # two batches held ahead of it, and a third
            batcher.hold("flood", 8)
        first()
        first()  # a second release changes nothing
        after_release = batcher.expected_wait("flood", 4)
        second()
        return idle, held_one, after_release, batcher.expected_wait("flood", 4)

    idle, held_one, after_release, none_held = run(scenario)
    assert idle == 0.0 and none_held == 0.0
    assert held_one == pytest.approx(0.2, rel=0.5)  # one full call ahead
    assert after_release == pytest.approx(held_one)  # the first's texts no longer count


def test_texts_whose_client_left_or_that_waited_too_long_never_reach_the_model():
    gate = Gate()

    async def scenario(executor):
        batcher = Batcher(gate, executor, max_size=8, max_wait=0.0, max_queue_wait=0.05)
        first = asyncio.ensure_future(batcher.score(["held"], "a"))
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 5)
        left = asyncio.ensure_future(batcher.score(["left"], "b"))
        stale = asyncio.ensure_future(batcher.score(["stale"], "c"))
        await asyncio.sleep(0.01)
        left.cancel()  # its client went: the request's task is cancelled
        await asyncio.sleep(0.15)  # "stale" waits three times the limit
        fresh = asyncio.ensure_future(batcher.score(["fresh"], "d"))
        await asyncio.sleep(0)
        gate.release.set()
        results = await asyncio.gather(first, fresh, stale, return_exceptions=True)
        await batcher.close()
        return results

    first, fresh, stale = run(scenario)
    assert first == [4.0] and fresh == [5.0]
    assert isinstance(stale, Overloaded) and stale.dropped
    assert gate.calls == [["held"], ["fresh"]]


def test_a_request_whose_last_texts_could_not_start_in_time_is_dropped_before_its_first():
    """Admitted on the model's usual pace, then the model slows: the request's first
    texts come due past the point where its last ones could start by its deadline."""
    slow = Slow(0.05)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=2, max_wait=0.0, max_queue_wait=0.3)
        await batcher.score(["a", "b"])  # a full call: 50 ms
        slow.seconds = 0.4
        running = asyncio.ensure_future(batcher.score(["c", "d"], "x"))  # idle: at once
        await asyncio.sleep(0.01)
        late = asyncio.ensure_future(batcher.score(list("efgh"), "y"))  # two calls of its own
        results = await asyncio.gather(running, late, return_exceptions=True)
        await batcher.close()
        return results

    running, late = run(scenario)
    assert running == [1.0, 1.0]
    assert isinstance(late, Overloaded) and late.dropped
    assert late.wait > late.max_queue_wait == 0.3  # its last texts would have started late
    assert "would have waited" in str(late)
    assert all("e" not in call for call in slow.calls)  # none of its texts was scored


def test_a_request_whose_first_texts_end_a_batch_counts_the_call_more_its_last_ones_need():
    """Four texts, a batch's size, but only three fit in the batch its first one joins:
    its last text waits a call more than its size says, which would start it late."""
    slow = Slow(0.1)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=4, max_wait=0.0, max_queue_wait=0.5)
        await batcher.score(list("abcd"))  # a full call: 100 ms
        slow.seconds = 0.4
        running = asyncio.ensure_future(batcher.score(list("efgh"), "x"))  # idle: at once
        await asyncio.sleep(0.01)
        ahead = asyncio.ensure_future(batcher.score(["i"], "y"))  # takes a place in the batch
        late = asyncio.ensure_future(batcher.score(list("klmn"), "z"))
        results = await asyncio.gather(running, ahead, late, return_exceptions=True)
        await batcher.close()
        return results

    running, ahead, late = run(scenario)
    assert running == [1.0] * 4 and ahead == [1.0]
    assert isinstance(late, Overloaded) and late.dropped
    assert all("k" not in call for call in slow.calls)  # none of its texts was scored


def test_a_request_whose_later_texts_could_no_longer_start_in_time_is_dropped_between_calls():
    """Its first texts start in time, then the model slows: before its next call, its
    last texts could no longer start by its deadline, so they are never scored (before,
    only its first call was checked, and it was answered a second late)."""
    slow = Slow(0.1)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=2, max_wait=0.0, max_queue_wait=1.0)
        await batcher.score(["a", "b"])  # a full call: 100 ms
        running = asyncio.ensure_future(batcher.score(["c", "d"], "x"))  # idle: at once
        await asyncio.sleep(0.01)
        # Three calls of its own after the running one: 300 ms estimated, admitted.
        late = asyncio.ensure_future(batcher.score(list("efghij"), "y"))
        await asyncio.sleep(0)
        slow.seconds = 0.8  # its first call, then the calls after it, take 800 ms
        results = await asyncio.gather(running, late, return_exceptions=True)
        await batcher.close()
        return results

    running, late = run(scenario)
    assert running == [1.0, 1.0]
    assert isinstance(late, Overloaded) and late.dropped
    assert late.wait > late.max_queue_wait == 1.0
    assert ["e", "f"] in slow.calls  # its first texts were scored, in time
    assert all("g" not in call and "i" not in call for call in slow.calls)


def test_admission_scales_its_estimates_by_how_far_recent_waits_exceeded_them(monkeypatch):
    monkeypatch.setattr(batcher_module, "CALIBRATION_SECONDS", 0.5)
    slow = Slow(0.01)

    async def scenario(executor):
        batcher = Batcher(slow, executor, max_size=2, max_wait=0.0, max_queue_wait=10.0)
        await batcher.score(["a", "b"])  # a full call: 10 ms
        trusted = batcher.scale
        slow.seconds = 0.05  # five times slower than the estimates assume
        await asyncio.gather(*(batcher.submit([f"{i}a", f"{i}b"], "x") for i in range(20)))
        slowed = batcher.scale
        await asyncio.sleep(0.6)  # no long wait since: the scale lapses
        await batcher.close()
        return trusted, slowed, batcher.scale

    trusted, slowed, lapsed = run(scenario)
    assert trusted == 1.0
    assert slowed > 2.0  # the waits ran about five times the estimates
    assert lapsed == 1.0


class Paced(Recorder):
    """A model whose calls take the given times in turn, over and over."""

    def __init__(self, seconds: list[float]) -> None:
        super().__init__()
        self.seconds = seconds

    def __call__(self, texts: list[str]) -> list[float]:
        time.sleep(self.seconds[len(self.calls) % len(self.seconds)])
        return super().__call__(texts)


def test_admission_reckons_a_requests_last_call_at_the_slow_tail_of_recent_calls():
    """Calls that swing (one in ten 20 times slower): reckoned at their mean, the
    requests admitted up to the bound were answered a slow call past the bound plus one
    call. Reckoned at their slow tail, one that has waited near the bound is refused,
    where after steady calls of about the same mean it is taken."""
    swinging, steady = Paced([0.01] * 9 + [0.2]), Paced([0.029])

    async def scenario(executor):
        refusals: list[tuple[float, float] | None] = []
        for model in (swinging, steady):
            batcher = Batcher(model, executor, max_size=2, max_wait=0.0, max_queue_wait=0.8)
            for _ in range(20):  # full calls, one at a time
                await batcher.score(["a", "b"])
            release = batcher.hold("x", 2)  # a batch ahead
            start = batcher.expected_wait("y", 2)  # when its last call would start
            try:
                batcher.admit("y", 2, waited=0.65)
                refusals.append(None)
            except Overloaded as refused:
                refusals.append((refused.wait, 0.65 + start))
            release()
            await batcher.close()
        return refusals

    swung, taken = run(scenario)
    assert taken is None  # steady: 650 ms waited and one call ahead are within 800 ms
    assert swung is not None
    reckoned, at_the_mean = swung
    assert 0.14 < reckoned - at_the_mean < 0.2  # the slow calls' 170 ms over the mean


class Turnstile(Recorder):
    """Each call waits for a permit of its own (``let``), as a model that is slow just
    when the test needs it to be."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.permits = threading.Semaphore(0)

    def let(self, calls: int = 1) -> None:
        self.permits.release(calls)

    def __call__(self, texts: list[str]) -> list[float]:
        self.permits.acquire(timeout=5)
        return super().__call__(texts)


def test_a_request_whose_client_disconnects_is_dropped_from_the_queue():
    """The hot path's watch (``ClientWatch``), armed once a call leaves the request
    waiting: the ASGI disconnect cancels the request where it waits, and its texts never
    reach the model."""
    turnstile = Turnstile()

    async def request(batcher, texts, client, receive):  # as the hot path awaits it
        watch = ClientWatch(receive)
        try:
            return await batcher.score(texts, client, watch.arm)
        except asyncio.CancelledError:
            if watch.left():
                return "gone"
            raise
        finally:
            watch.close()

    async def scenario(executor):
        batcher = Batcher(turnstile, executor, max_size=1, max_wait=0.0)
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def connected() -> dict[str, Any]:
            await asyncio.Event().wait()  # the client never leaves
            return {}

        held = asyncio.ensure_future(request(batcher, ["held"], "a", connected))
        await asyncio.sleep(0.05)  # "held" in its call; then, in the rotation, a, c, b
        later = [
            asyncio.ensure_future(request(batcher, ["next"], "a", connected)),
            asyncio.ensure_future(request(batcher, ["stays"], "c", connected)),
            asyncio.ensure_future(request(batcher, ["left"], "b", messages.get)),
        ]
        await asyncio.sleep(0.05)
        turnstile.let()  # "held" returns; "next" starts; "stays" and "left" wait on
        await asyncio.sleep(0.05)
        await messages.put({"type": "http.disconnect"})
        await asyncio.sleep(0.05)
        turnstile.let(2)
        results = await asyncio.gather(held, *later)
        await batcher.close()
        return results

    assert run(scenario) == [[4.0], [4.0], [5.0], "gone"]
    assert turnstile.calls == [["held"], ["next"], ["stays"]]
