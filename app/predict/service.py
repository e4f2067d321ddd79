"""Serving predictions: the champion's batcher, hot swaps, and per-version scoring.

Each API process keeps the champion loaded behind a batcher. A watcher checks
the registry every ``champion_poll_seconds``; when the champion changes (a
better model, or a moved pin) it loads the new SavedModel on a thread of its own
(checksums verified, warmed up) while the old one serves, and only then swaps the
batcher.
Requests already queued finish on the old batcher, so every answer names the
version that scored it. An artifact that fails to load is refused: the old
champion keeps serving and the error shows in ``/readyz`` and the logs.
"""

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from app.core import metrics
from app.core.db import Database
from app.core.errors import Conflict, ErrorCode, Invalid, ModelNotFound, Unavailable
from app.core.settings import Settings
from app.predict.batcher import Batcher, BatcherClosed, Overloaded
from app.predict.explanations import Explanation, explanation
from app.predict.loader import LoadedModel, ModelLoadError
from app.registry import repository, store
from app.registry.objects import StoreUnavailable

logger = logging.getLogger(__name__)

RETRY_REFUSED_SECONDS = 60.0
VERSIONS_KEPT = 2  # models loaded for POST /v1/models/{version}/predict, besides the champion
SETTLE_WAIT_SECONDS = 10.0  # longest a swap's collection waits for the champion to be idle


@dataclass(frozen=True)
class Wanted:
    version: int
    name: str
    path: str
    pinned: bool


@dataclass
class Served:
    model: LoadedModel
    batcher: Batcher


@dataclass(frozen=True)
class Scored:
    """Probabilities of positive, in the order of the texts, and the version that scored them."""

    version: int
    name: str
    probabilities: list[float]


class Serving:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.champion: Served | None = None
        self.wanted: Wanted | None = None
        self.error: str | None = None
        self._refused: dict[int, float] = {}  # version -> when it was refused
        self._versions: OrderedDict[int, Served] = OrderedDict()
        self._executor = ThreadPoolExecutor(
            max_workers=settings.inference_threads, thread_name_prefix="inference"
        )
        # Loads run beside the inference threads: the champion serves while its successor
        # loads and warms up.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
        # Explanations run one at a time on a thread of their own, never the predictions':
        # they share the cores, but a prediction never waits behind one.
        self._explainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explain")
        self._explaining = 0  # explanation requests computing or waiting for the thread
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for served in [self.champion, *self._versions.values()]:
            if served is not None:
                await served.batcher.close()
        self._executor.shutdown(wait=False)
        self._explainer.shutdown(wait=False)
        self._loader.shutdown(wait=False)

    async def _watch(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a database blip must not kill the watcher
                logger.exception("checking the registry for a new champion failed")
            await asyncio.sleep(self.settings.champion_poll_seconds)

    async def refresh(self) -> None:
        """Swap to the registry's champion if it changed and its artifact loads."""
        async with self._lock:
            wanted = await run_in_threadpool(self._read_champion)
            self.wanted = wanted
            current = self.champion.model.version if self.champion else None
            if wanted is None or wanted.version == current:
                self.error = None
                return
            refused_at = self._refused.get(wanted.version)
            if refused_at is not None and time.monotonic() - refused_at < RETRY_REFUSED_SECONDS:
                return
            try:
                served = await self._load(wanted.version, wanted.name, wanted.path)
            except StoreUnavailable as error:  # not the version's fault: try again next poll
                self.error = str(error)
                logger.warning(
                    "cannot fetch the new champion: %s; still serving %s", error, current
                )
                return
            except ModelLoadError as error:
                self._refused[wanted.version] = time.monotonic()
                self.error = str(error)
                logger.error(
                    "refused the new champion: %s; still serving version %s", error, current
                )
                return
            old, self.champion, self.error = self.champion, served, None
            metrics.CHAMPION.set(wanted.version)
            self._refused.pop(wanted.version, None)
            logger.info("champion swapped: version %s -> %s", current, wanted.version)
        if old is not None:
            await old.batcher.close()  # requests it already holds finish on it
            del old
        await settle_when_idle(self.champion.batcher if self.champion else None)

    def _read_champion(self) -> Wanted | None:
        with self.database.session_scope() as session:
            found = repository.champion(session)
            if found is None:
                return None
            row, pinned = found
            return Wanted(row.version, row.name, row.path, pinned)

    async def _load(self, version: int, name: str, path: str) -> Served:
        loop = asyncio.get_running_loop()
        keep = [self.wanted.path] if self.wanted else []  # the cache never drops the champion
        model = await loop.run_in_executor(
            self._loader, self._load_model, version, name, path, keep
        )
        batcher = Batcher(
            model.score,
            self._executor,
            self.settings.batch_max_size,
            self.settings.batch_max_wait_ms / 1000,
            self.settings.inference_threads,
            self.settings.predict_max_wait_ms / 1000,
        )
        return Served(model, batcher)

    def _load_model(self, version: int, name: str, path: str, keep: list[str]) -> LoadedModel:
        """Fetch the version (from a bucket: into this host's cache, each file checked)
        and load it. A copy that fails to load is dropped, to be fetched again."""
        models = store.open_store(self.settings, patient=False)  # retried at the next poll
        try:
            folder = models.open_version(path, keep)
        except ValueError as error:
            raise ModelLoadError(f"model version {version} cannot be fetched: {error}") from error
        try:
            return LoadedModel(
                version,
                name,
                folder,
                self.settings.inference_intra_op_threads,
                self.settings.inference_threads,  # an inter-op thread for each call at once
            )
        except ModelLoadError:
            models.forget(path)
            raise

    def check_room(self, client: str, version: int | None, texts: int) -> Callable[[], None]:
        """503 ``overloaded`` when ``texts`` more from ``client`` would wait too long for
        the champion (or ``version``, when loaded): checked before a request's body is
        read, with its texts estimated (``TextSizes``), so that a flood's refusals cost
        little. Admitted, they count as waiting (``Batcher.hold``) until the returned
        release is called, before they are submitted."""
        champion = self.champion
        if version is None or (champion is not None and champion.model.version == version):
            served = champion
        else:
            served = self._versions.get(version)
        if served is None:
            return nothing_held  # loaded on demand: its batcher checks the request itself
        try:
            return served.batcher.hold(client, texts)
        except Overloaded as error:
            raise overloaded(error) from None

    async def predict(
        self,
        texts: list[str],
        client: str = "",
        on_deferred: Callable[[], None] | None = None,
        arrived: float | None = None,
    ) -> Scored:
        """Score ``texts`` with the champion; ``client`` (a key, or an address) is whose
        turn they wait for in the batcher's rotation; ``on_deferred`` and ``arrived``:
        the batcher's."""
        check_limits(texts, self.settings)
        for _ in range(3):  # a swap between taking the batcher and queueing: take the new one
            served = self.champion
            if served is None:
                await self.refresh()
                served = self.champion
            if served is None:
                raise self._unavailable()
            try:
                scores = await served.batcher.score(texts, client, on_deferred, arrived)
            except BatcherClosed:
                continue
            except Overloaded as error:
                raise overloaded(error) from None
            return Scored(served.model.version, served.model.name, scores)
        raise Unavailable(ErrorCode.MODEL_SWAPPING, "The champion is being swapped; retry.")

    async def predict_with(
        self,
        version: int,
        texts: list[str],
        client: str = "",
        on_deferred: Callable[[], None] | None = None,
        arrived: float | None = None,
    ) -> Scored:
        """Score with a given version (loaded on demand, a few kept)."""
        check_limits(texts, self.settings)
        if self.champion is not None and self.champion.model.version == version:
            return await self.predict(texts, client, on_deferred, arrived)
        for _ in range(3):  # evicted between loading and queueing: load it again
            served = self._versions.get(version) or await self._load_version(version)
            if version in self._versions:
                self._versions.move_to_end(version)
            try:
                scores = await served.batcher.score(texts, client, on_deferred, arrived)
            except BatcherClosed:
                continue
            except Overloaded as error:
                raise overloaded(error) from None
            return Scored(served.model.version, served.model.name, scores)
        raise Unavailable(
            ErrorCode.MODEL_SWAPPING, f"Model version {version} is being reloaded; retry."
        )

    async def explain(
        self, version: int | None, texts: list[str], top: int
    ) -> tuple[Scored, list[Explanation]]:
        """Score and explain ``texts`` with the champion (``version`` None) or a version,
        listing each text's ``top`` tokens: one explanation computing per process, and
        SENTIMENT_EXPLAIN_MAX_WAITING requests waiting for it; more are refused (503)."""
        check_limits(texts, self.settings)
        if len(texts) > self.settings.explain_max_texts:
            raise Invalid(
                ErrorCode.TOO_MANY_TEXTS,
                f"Expected at most {self.settings.explain_max_texts} texts per request with "
                f"`explain`, received {len(texts)}.",
            )
        model = await self._model_for(version)
        if not model.explainable:
            raise Conflict(
                ErrorCode.NOT_EXPLAINABLE,
                f"Model version {model.version} ({model.name}) has no `explain` signature: "
                "it was exported before explanations, or it is an ensemble. It scores "
                "texts without `explain`.",
            )
        if self._explaining > self.settings.explain_max_waiting:
            raise Unavailable(
                ErrorCode.OVERLOADED,
                f"Explanations are at capacity: {self._explaining} requests are computing "
                f"or waiting, over the limit of {self.settings.explain_max_waiting} waiting "
                "(SENTIMENT_EXPLAIN_MAX_WAITING). Retry later; scores without `explain` "
                "are not affected.",
                retry_after=1,
            )

        def explained() -> list[Explanation]:
            rows = model.explain(texts)
            return [explanation(text, row, top) for text, row in zip(texts, rows, strict=True)]

        self._explaining += 1
        try:
            found = await asyncio.get_running_loop().run_in_executor(self._explainer, explained)
        finally:
            self._explaining -= 1
        return Scored(model.version, model.name, [e.probability for e in found]), found

    async def _model_for(self, version: int | None) -> LoadedModel:
        """The champion's model (``version`` None, or the champion's), or the version's
        (loaded on demand, as for ``predict_with``)."""
        champion = self.champion
        if champion is None and version is None:
            await self.refresh()
            champion = self.champion
        if version is None or (champion is not None and champion.model.version == version):
            if champion is None:
                raise self._unavailable()
            return champion.model
        served = self._versions.get(version) or await self._load_version(version)
        return served.model

    async def describe(self, version: int | None) -> tuple[int, str]:
        """The version number and name that ``version`` (None: the champion, the one
        serving here while a swap is under way) stands for: 404 for a version not
        registered, 503 with no champion yet."""
        if version is None:
            if self.champion is not None:
                return self.champion.model.version, self.champion.model.name
            wanted = self.wanted or await run_in_threadpool(self._read_champion)
            if wanted is None:
                raise self._unavailable()
            return wanted.version, wanted.name
        row = await run_in_threadpool(self._read_version, version)
        return version, str(row["name"])

    async def _load_version(self, version: int) -> Served:
        async with self._lock:  # two requests for the same new version load it once
            served = self._versions.get(version)
            if served is not None:
                return served
            row = await run_in_threadpool(self._read_version, version)
            try:
                served = await self._load(version, row["name"], row["path"])
            except ModelLoadError as error:
                raise Unavailable(ErrorCode.MODEL_UNAVAILABLE, str(error)) from error
            self._versions[version] = served
            evicted = []
            while len(self._versions) > VERSIONS_KEPT:
                evicted.append(self._versions.popitem(last=False)[1])
        for old in evicted:
            await old.batcher.close()
        return served

    def _read_version(self, version: int) -> dict[str, Any]:
        with self.database.session_scope() as session:
            row = repository.get(session, version)
            if row is None:
                raise ModelNotFound(version)
            return {"name": row.name, "path": row.path}

    def _unavailable(self) -> Unavailable:
        if self.error is not None:
            return Unavailable(ErrorCode.MODEL_UNAVAILABLE, f"No model can serve: {self.error}")
        return Unavailable(
            ErrorCode.NO_MODEL,
            "No model is registered yet: train one with POST /v1/jobs; predict once it succeeds.",
        )

    def status(self) -> dict[str, Any]:
        """For /readyz: which version serves, which the registry wants, and any error."""
        serving = self.champion.model.version if self.champion else None
        wanted = self.wanted.version if self.wanted else None
        batcher = self.champion.batcher if self.champion else None
        return {
            "ok": self.error is None and (wanted is None or serving is not None),
            "serving_version": serving,
            "batches": batcher.batches if batcher else 0,
            "largest_batch": batcher.largest_batch if batcher else 0,
            "champion_version": wanted,
            "pinned": self.wanted.pinned if self.wanted else None,
            "error": self.error,
        }


async def settle_when_idle(batcher: Batcher | None) -> None:
    """``settle_memory`` at a moment when ``batcher`` (the champion's) has nothing
    waiting or running: its collection stops the event loop for 150 ms or more, and
    requests queued through it could pass their deadlines and be dropped, as a swap
    under light load once did in CI. Under a steady stream such a moment comes between
    two calls; under a flood, none may: then after ``SETTLE_WAIT_SECONDS`` anyway."""
    swapped = time.perf_counter()
    if batcher is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(batcher.idle(), SETTLE_WAIT_SECONDS)
    started = time.perf_counter()
    settle_memory()
    logger.info(
        "memory settled after the swap: the event loop stood %.0f ms, %.1f s after the swap",
        (time.perf_counter() - started) * 1000,
        started - swapped,
    )


def settle_memory() -> None:
    """After a model is loaded (or dropped): collect, then freeze what survives.

    A loaded model is hundreds of thousands of long-lived objects; every full
    collection walked them all, stopping the event loop for about 200 ms (the p99 of
    the predict load). Frozen, collections walk only what requests create. Unfrozen
    first, so a swapped-out model's cycles are still freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def nothing_held() -> None:
    """The release of a request for which no texts were held (``check_room``)."""


def overloaded(error: Overloaded) -> Unavailable:
    """The 503 for texts the batcher would not queue, or dropped: how long they would
    wait (or would have, dropped), the limit, and when to come back."""
    waited = "would have waited" if error.dropped else "would wait"
    return Unavailable(
        ErrorCode.OVERLOADED,
        f"The model is at capacity: these texts {waited} about {error.wait * 1000:.0f} ms "
        f"for it, over the limit of {error.max_queue_wait * 1000:.0f} ms "
        "(SENTIMENT_PREDICT_MAX_WAIT_MS). Retry later, or send fewer texts at once.",
        retry_after=max(1, math.ceil(error.wait - error.max_queue_wait)),
    )


def check_limits(texts: list[str], settings: Settings) -> None:
    if len(texts) > settings.predict_max_texts:
        raise Invalid(
            ErrorCode.TOO_MANY_TEXTS,
            f"Expected at most {settings.predict_max_texts} texts per request, "
            f"received {len(texts)}.",
        )
    for index, text in enumerate(texts):
        if len(text) > settings.predict_max_chars:
            raise Invalid(
                ErrorCode.TEXT_TOO_LONG,
                f"Expected at most {settings.predict_max_chars} characters per text; "
                f"texts[{index}] has {len(text)}.",
                [{"field": f"texts.{index}", "message": "too long", "received": len(text)}],
            )
