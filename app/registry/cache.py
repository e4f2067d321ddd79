"""This host's copies of versions from a remote models store, bounded in size.

A version is downloaded into a folder of its own (manifest first, to learn the
files; each file then checked against its sha256), and renamed into place only when
every file matched: a folder in the cache is always a whole, checked version. TF
Serving once loaded a version whose ``variables/`` had not finished uploading
(tensorflow/serving#1086); here a version with a missing or altered file never
reaches the loader. The loader checks the checksums again when it loads a copy, so
a cached file altered on disk later is refused too.

Past ``max_bytes`` the least recently opened versions are removed, never the one
just opened nor those the caller keeps (the champion). Several processes of one
host may share the cache: each downloads into a folder of its own and the first
rename wins.
"""

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Collection
from pathlib import Path

from app.registry.artifact import MANIFEST, MODEL_NAME, sha256_of
from app.registry.objects import ObjectMissing, Objects

logger = logging.getLogger(__name__)


class VersionCache:
    def __init__(self, objects: Objects, root: Path, max_bytes: int) -> None:
        self.objects, self.root, self.max_bytes = objects, Path(root), max_bytes

    def path_of(self, relative: str) -> Path:
        if relative.startswith("/") or ".." in relative.split("/") or not relative.strip("/."):
            raise ValueError(f"artifact path {relative!r} is outside the models store")
        return self.root / relative

    def open(self, relative: str, keep: Collection[str] = ()) -> Path:
        """The checked local copy of a version, downloaded if this host has none."""
        final = self.path_of(relative)
        if not (final / MANIFEST).is_file():
            self._download(relative, final)
        os.utime(final)  # last opened: the eviction order
        self.evict({relative, *keep})
        return final

    def _download(self, relative: str, final: Path) -> None:
        started = time.perf_counter()
        try:
            manifest = self.objects.get_bytes(f"{relative}/{MANIFEST}")
        except ObjectMissing as error:
            raise ValueError(
                f"{relative} has no {MANIFEST} in the models store: not a complete version"
            ) from error
        try:
            files: dict[str, str] = json.loads(manifest)["files"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{relative}/{MANIFEST} is not a valid manifest: {error}") from error
        partial = final.parent / f".{final.name}-{uuid.uuid4().hex[:8]}"
        try:
            for name, expected in sorted(files.items()):
                target = partial / name
                if partial.resolve() not in target.resolve().parents:
                    raise ValueError(f"{relative}/{MANIFEST} names a file outside it: {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self.objects.get_file(f"{relative}/{name}", target)
                except ObjectMissing as error:
                    raise ValueError(f"{relative}/{name} is missing from the store") from error
                if sha256_of(target) != expected:
                    raise ValueError(f"{relative}/{name} differs from its sha256 in {MANIFEST}")
            (partial / MANIFEST).write_bytes(manifest)  # last: the copy is whole
            try:
                os.replace(partial, final)
            except OSError:  # another process of this host put it there first
                if not (final / MANIFEST).is_file():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        logger.info(
            "models cache: downloaded %s (%d files) in %.1fs",
            relative,
            len(files),
            time.perf_counter() - started,
        )

    def remove(self, relative: str) -> None:
        folder = self.path_of(relative)
        trash = folder.parent / f".removed-{folder.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.replace(folder, trash)  # out of sight at once, then deleted
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def evict(self, keep: Collection[str]) -> list[str]:
        """Remove the least recently opened versions until the cache fits; returns them."""
        entries = []
        for manifest in self.root.glob(f"{MODEL_NAME}/*/{MANIFEST}"):
            folder = manifest.parent
            if folder.name.startswith("."):  # a download or removal under way
                continue
            relative = folder.relative_to(self.root).as_posix()
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            entries.append((folder.stat().st_mtime, relative, size))
        total = sum(size for _, _, size in entries)
        removed = []
        for _, relative, size in sorted(entries):
            if total <= self.max_bytes:
                break
            if relative in keep:
                continue
            self.remove(relative)
            total -= size
            removed.append(relative)
        if removed:
            logger.info("models cache: removed %s to stay under %d bytes", removed, self.max_bytes)
        return removed
