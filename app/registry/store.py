"""The models store: published versions and running jobs' checkpoints, in a local
folder (the default) or an S3 bucket (``SENTIMENT_MODELS_STORE=s3://bucket/prefix``).

<store>/imdb-sentiment/<version>/   a published version (the layout TensorFlow Serving reads)
<store>/.checkpoints/<job id>/      a running job's checkpoints (worker/training/checkpoints.py)
<store>/.vectors/                   files hosts share besides versions (imdb-word2vec, bucket only)

What a version folder holds is ``artifact.py``'s; where its files are is ``objects.py``'s.
Exports are built on this host first, in a scratch folder: inside the store's root for a
local store (publishing is then one rename), in the host's cache for a bucket.

The rule that keeps a half-written version out of service: its manifest is written
last (after every file it lists), the registry row is committed only after that, and
a host reads a version from a bucket only through :class:`VersionCache`, which checks
every file against the manifest before anything loads it.
"""

import contextlib
import os
import shutil
import threading
from collections.abc import Collection, Iterator
from pathlib import Path

from app.core.settings import Settings
from app.registry.artifact import MANIFEST, MODEL_NAME
from app.registry.cache import VersionCache
from app.registry.objects import LocalObjects, ObjectMissing, Objects, open_objects

STAGING = ".staging"
CHECKPOINTS = ".checkpoints"


def relative_version_path(version: int) -> str:
    return f"{MODEL_NAME}/{version}"


class ModelStore:
    def __init__(self, objects: Objects, cache: Path, cache_bytes: int) -> None:
        self.objects = objects
        # Where exports and checkpoints are written before they go into the store: inside
        # a local store (so that publishing is a rename), else in this host's cache.
        local = isinstance(objects, LocalObjects)
        self.scratch = objects.root if isinstance(objects, LocalObjects) else Path(cache)
        self.cache = None if local else VersionCache(objects, Path(cache), cache_bytes)

    @property
    def description(self) -> str:
        return self.objects.description

    # Versions

    def staging_path(self, job_id: str) -> Path:
        """The folder a job exports its version into, on this host."""
        return self.scratch / STAGING / job_id

    def publish(self, staged: Path, version: int) -> str:
        """Put a complete export in the store as ``version`` (its manifest last); the
        staged folder is consumed. Returns the version's path in the store.

        Anything already there has no registry row (a registration that failed before
        its commit; version numbers are never reused), so it is replaced.
        """
        relative = relative_version_path(version)
        self.objects.put_tree(staged, relative, last=MANIFEST)
        return relative

    def has_version(self, relative: str) -> bool:
        """The version's manifest is in the store (so all its files are)."""
        return self.objects.exists(f"{relative}/{MANIFEST}")

    def present_versions(self) -> set[str]:
        """The paths of every version whose manifest is in the store (one listing)."""
        suffix = f"/{MANIFEST}"
        return {
            key.removesuffix(suffix)
            for key in self.objects.keys(f"{MODEL_NAME}/")
            if key.endswith(suffix) and key.count("/") == 2
        }

    def open_version(self, relative: str, keep: Collection[str] = ()) -> Path:
        """A folder on this host holding the version: the store's own folder when it is
        local, else a copy in the cache, downloaded (and each file checked against the
        manifest) on first use. ``keep``: versions the cache must not evict for it.

        Raises ``ValueError`` for a path outside the store or an invalid download,
        :class:`StoreUnavailable` when the bucket does not answer."""
        if self.cache is None:
            local = self.objects.local_path(relative)
            assert local is not None
            return local
        return self.cache.open(relative, keep)

    def forget(self, relative: str) -> None:
        """Drop this host's copy of a version (it failed to load: fetch it again)."""
        if self.cache is not None:
            self.cache.remove(relative)

    # Files every host may need besides versions (the imdb-word2vec vectors)

    @property
    def remote(self) -> bool:
        """A bucket: hosts share it and nothing else."""
        return self.cache is not None

    def share(self, key: str, path: Path) -> None:
        """Put a file this host made where other hosts find it (a bucket only: the hosts
        of a local store share its host's folders)."""
        if self.remote:
            self.objects.put_file(key, path)

    def fetch_shared(self, key: str, target: Path) -> bool:
        """Download a shared file to ``target`` (whole, by a rename); False if none."""
        if not self.remote:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}")
        try:
            self.objects.get_file(key, partial)
            os.replace(partial, target)
        except ObjectMissing:
            return False
        finally:
            partial.unlink(missing_ok=True)
        return True

    # Checkpoints

    def checkpoint_prefix(self, job_id: str) -> str:
        return f"{CHECKPOINTS}/{job_id}/"

    def checkpointed_jobs(self) -> list[str]:
        """The ids of the jobs that have checkpoints in the store."""
        return self.objects.children(f"{CHECKPOINTS}/")

    def clear_checkpoints(self, job_id: str) -> None:
        self.objects.delete_prefix(self.checkpoint_prefix(job_id))

    @contextlib.contextmanager
    def local_copy(self, prefix: str) -> Iterator[Path]:
        """The files under ``prefix`` in a folder on this host, for the block's time."""
        local = self.objects.local_path(prefix)
        if local is not None:
            yield local
            return
        with scratch_folder(self.scratch, "download") as folder:
            base = prefix.rstrip("/") + "/"
            for key in self.objects.keys(base):
                target = folder / key[len(base) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.objects.get_file(key, target)
            yield folder

    def ping(self) -> None:
        self.objects.ping()


@contextlib.contextmanager
def scratch_folder(parent: Path, name: str) -> Iterator[Path]:
    """A fresh folder under ``parent``'s staging area, removed afterwards unless consumed."""
    folder = Path(parent) / STAGING / f".{name}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


QUICK_RETRY_SECONDS = 3.0  # what a request may wait on an S3 store before its 503

_opened: dict[tuple[object, ...], ModelStore] = {}
_opening = threading.Lock()


def open_store(settings: Settings, patient: bool = True) -> ModelStore:
    """The models store ``settings`` name, one per process (a bucket's client is reused;
    a forked child opens its own).

    ``patient``: an S3 call is retried for ``store_retry_seconds``, so a worker's upload
    outlives a blip; the API opens it impatient (at most ``QUICK_RETRY_SECONDS``): a
    request answers 503 ``store_unavailable`` rather than hang through an outage."""
    retry_seconds = settings.store_retry_seconds
    if not patient:
        retry_seconds = min(retry_seconds, QUICK_RETRY_SECONDS)
    key = (
        os.getpid(),
        settings.models_store,
        settings.store_endpoint_url,
        str(settings.models_cache),
        int(settings.models_cache_bytes),
        retry_seconds,
    )
    with _opening:
        if key not in _opened:
            objects = open_objects(
                settings.models_store, settings.store_endpoint_url, retry_seconds
            )
            _opened[key] = ModelStore(
                objects, settings.models_cache, int(settings.models_cache_bytes)
            )
        return _opened[key]


def local_store(root: str | Path) -> ModelStore:
    """A store in the folder ``root`` (tools and tests that work on a folder)."""
    return ModelStore(LocalObjects(Path(root)), Path(root), 0)
