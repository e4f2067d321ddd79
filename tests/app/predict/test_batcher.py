"""The batcher's contract, with a plain scoring function in place of a model:
which texts share a call, in which order their scores come back, and how it stops."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.predict.batcher import Batcher, BatcherClosed


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
        queued = [future for c in "abcde" for future in batcher.submit([c])]
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
