"""Serving's own rules, with a plain scoring function behind the batcher."""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from app.predict.batcher import Batcher
from app.predict.service import settle_when_idle


def test_a_swaps_collection_waits_until_the_champion_has_nothing_queued_or_running(caplog):
    """The collection after a swap stops the event loop for 150 ms or more: run while
    texts waited, it once pushed them past their deadline, and they were dropped."""
    entered, release = threading.Event(), threading.Event()

    def held_model(texts: list[str]) -> list[float]:
        entered.set()
        release.wait(5)
        return [1.0] * len(texts)

    async def scenario(executor):
        batcher = Batcher(held_model, executor, max_size=4, max_wait=0.0)
        running = asyncio.ensure_future(batcher.score(["a"], "x"))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 5)
        queued = asyncio.ensure_future(batcher.score(["b"], "y"))
        settling = asyncio.ensure_future(settle_when_idle(batcher))
        await asyncio.sleep(0.1)
        waited = not settling.done() and "memory settled" not in caplog.text
        release.set()
        await asyncio.wait_for(settling, 5)
        scored_first = running.done() and queued.done()
        await batcher.close()
        return waited, scored_first

    with (
        caplog.at_level(logging.INFO, logger="app.predict.service"),
        ThreadPoolExecutor(max_workers=1) as executor,
    ):
        waited, scored_first = asyncio.run(scenario(executor))
    assert waited  # not while a call ran and a text waited
    assert scored_first  # both answered before the loop stood still
    assert "memory settled after the swap" in caplog.text
