"""Where the models store keeps its files: a local folder or an S3 bucket, behind one
small interface of keys ('/'-separated, relative to the store's root).

Both backends give the same guarantee to readers: ``put_tree`` writes the file named
``last`` after every other one, so whoever sees that file sees them all. A local
folder gets it from one rename; a bucket from the order of the uploads.

An S3 store retries a failed call with backoff for ``retry_seconds`` (a blip must not
fail a job), then raises :class:`StoreUnavailable`, naming the bucket and endpoint.
boto3 is imported only by a process that uses a bucket.
"""

import functools
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from app.core.errors import ErrorCode, Unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
S3_SCHEME = "s3://"


class StoreUnavailable(Unavailable):
    """The store did not answer (after retrying, for an S3 store). A client is told
    that much; ``str()`` (for logs and ``/readyz``) names the store and the failure."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            ErrorCode.STORE_UNAVAILABLE,
            "The models store is unreachable right now; retry shortly.",
            retry_after=5,
        )
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


class ObjectMissing(KeyError):
    """No object at that key."""


class Objects(Protocol):
    """The files of a store, by key."""

    @property
    def description(self) -> str:
        """What and where it is, for errors and logs."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file or folder itself when the store is a local folder, else None."""
        ...

    def put_tree(self, folder: Path, prefix: str, last: str) -> None:
        """Move ``folder``'s files under ``prefix`` (replacing what was there), the file
        named ``last`` after all the others. ``folder`` is consumed."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, path: Path) -> None:
        """Copy the file at ``path`` to ``key`` (a reader sees the old one or the new one)."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Raises :class:`ObjectMissing`."""
        ...

    def get_file(self, key: str, path: Path) -> None:
        """Download to ``path``; raises :class:`ObjectMissing`."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder: ends with '/'), sorted."""
        ...

    def children(self, prefix: str) -> list[str]:
        """The names of the folders directly under ``prefix``."""
        ...

    def delete_prefix(self, prefix: str) -> None: ...

    def ping(self) -> None:
        """Raises :class:`StoreUnavailable` when the store cannot be reached (no retry)."""
        ...


class LocalObjects:
    """A folder on this host. Writes are renames, so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def description(self) -> str:
        return str(self.root)

    def local_path(self, key: str) -> Path:
        """The path of ``key``, refusing one that does not lead inside the root."""
        root = self.root.resolve()
        path = (root / key).resolve()
        if root not in path.parents:
            raise ValueError(f"artifact path {key!r} is outside the models store")
        return path

    def put_tree(self, folder: Path, prefix: str, last: str) -> None:
        if not (Path(folder) / last).is_file():
            raise ValueError(f"{folder} has no {last}: nothing would mark it complete")
        final = self.local_path(prefix)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(folder, final)  # one rename: every file appears at once

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self.local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        partial.write_bytes(data)
        os.replace(partial, path)

    def put_file(self, key: str, path: Path) -> None:
        target = self.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        shutil.copyfile(path, partial)
        os.replace(partial, target)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.local_path(key).read_bytes()
        except FileNotFoundError as error:
            raise ObjectMissing(key) from error

    def get_file(self, key: str, path: Path) -> None:
        try:
            shutil.copyfile(self.local_path(key), path)
        except FileNotFoundError as error:
            raise ObjectMissing(key) from error

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def keys(self, prefix: str) -> list[str]:
        folder = self.local_path(prefix)  # a prefix names a folder, so never the root
        if not folder.is_dir():
            return []
        return sorted(
            path.relative_to(self.root.resolve()).as_posix()
            for path in folder.rglob("*")
            if path.is_file()
        )

    def children(self, prefix: str) -> list[str]:
        folder = self.local_path(prefix)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.local_path(prefix), ignore_errors=True)

    def ping(self) -> None:
        if not self.root.is_dir() and self.root.exists():
            raise StoreUnavailable(f"the models store {self.root} is not a folder")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); the prefix may be empty."""
    if not url.startswith(S3_SCHEME):
        raise ValueError(f"expected an s3://bucket[/prefix] URL, received {url!r}")
    bucket, _, prefix = url[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"expected a bucket name after s3://, received {url!r}")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3Objects:
    """An S3 bucket (or a prefix in one), through boto3.

    The endpoint, region and credentials come from the standard AWS settings
    (``AWS_ENDPOINT_URL_S3``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``...) unless
    ``endpoint_url`` is given. Path-style addressing, so a plain host:port endpoint
    (a self-hosted server) works too.
    """

    def __init__(self, url: str, endpoint_url: str | None = None, retry_seconds: float = 60.0):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = parse_s3_url(url)
        self.retry_seconds = retry_seconds
        config = Config(
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
        )
        session = boto3.session.Session()
        self._client: Any = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        # A probe must answer fast: one attempt, short timeouts.
        probe_config = config.merge(
            Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1})
        )
        self._probe: Any = session.client(
            "s3", endpoint_url=endpoint_url or None, config=probe_config
        )
        self.endpoint = str(self._client.meta.endpoint_url)

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint}"

    def local_path(self, key: str) -> None:
        return None

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"artifact path {key!r} is outside the models store")
        return self.prefix + key

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call``, retried with backoff while the store is unreachable or failing."""
        from botocore.exceptions import BotoCoreError, ClientError

        deadline, pause = time.monotonic() + self.retry_seconds, 0.5
        while True:
            try:
                return call()
            except ClientError as error:
                status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                code = str(error.response.get("Error", {}).get("Code", ""))
                if status in (404,) or code in ("NoSuchKey", "404", "NotFound"):
                    raise ObjectMissing(what) from error
                if status < 500 and code not in ("SlowDown", "RequestTimeout"):
                    raise StoreUnavailable(self._failed(what, error)) from error
                failure: Exception = error
            except BotoCoreError as error:
                failure = error
            if time.monotonic() >= deadline:
                raise StoreUnavailable(self._failed(what, failure)) from failure
            logger.warning("models store: %s failed (%s); retrying in %.1fs", what, failure, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)

    def _failed(self, what: str, error: Exception) -> str:
        return (
            f"the models store {self.description} failed to {what}: {type(error).__name__}: {error}"
        )

    def put_tree(self, folder: Path, prefix: str, last: str) -> None:
        folder = Path(folder)
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        names = [p.relative_to(folder).as_posix() for p in files]
        if last not in names:
            raise ValueError(f"{folder} has no {last}: nothing would mark it complete")
        base = prefix.rstrip("/") + "/"
        self.delete_prefix(base)  # a version number is never reused: what is there is debris
        for path, name in sorted(zip(files, names, strict=True), key=lambda f: f[1] == last):
            self._upload(path, base + name)
        shutil.rmtree(folder, ignore_errors=True)

    def _upload(self, path: Path, key: str) -> None:
        def upload() -> None:
            self._client.upload_file(str(path), self.bucket, self._key(key))

        self._retrying(f"upload {key}", upload)

    def put_file(self, key: str, path: Path) -> None:
        self._upload(Path(path), key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._retrying(
            f"write {key}",
            lambda: self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data),
        )

    def get_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(answer["Body"].read())

        return self._retrying(f"read {key}", read)

    def get_file(self, key: str, path: Path) -> None:
        self._retrying(
            f"download {key}",
            lambda: self._client.download_file(self.bucket, self._key(key), str(path)),
        )

    def exists(self, key: str) -> bool:
        try:
            self._retrying(
                f"look up {key}",
                lambda: self._client.head_object(Bucket=self.bucket, Key=self._key(key)),
            )
        except ObjectMissing:
            return False
        return True

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        arguments = {"Bucket": self.bucket, "Prefix": self._key(prefix)}
        while True:
            list_page = functools.partial(self._client.list_objects_v2, **arguments)
            page: dict[str, Any] = self._retrying(f"list {prefix}", list_page)
            yield page
            if not page.get("IsTruncated"):
                return
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    def keys(self, prefix: str) -> list[str]:
        start = len(self.prefix)
        return sorted(
            item["Key"][start:] for page in self._pages(prefix) for item in page.get("Contents", [])
        )

    def children(self, prefix: str) -> list[str]:
        # From the keys, not a delimiter listing: a server that keeps folders (SeaweedFS
        # does) lists an emptied one as a common prefix.
        base = prefix.rstrip("/") + "/"
        return sorted(
            {key[len(base) :].split("/")[0] for key in self.keys(base) if "/" in key[len(base) :]}
        )

    def delete_prefix(self, prefix: str) -> None:
        keys = [self._key(key) for key in self.keys(prefix)]
        for start in range(0, len(keys), 1000):  # the most one DeleteObjects call takes
            batch = {"Objects": [{"Key": key} for key in keys[start : start + 1000]]}

            def delete(batch: dict[str, Any] = batch) -> None:
                self._client.delete_objects(Bucket=self.bucket, Delete=batch)

            self._retrying(f"delete under {prefix}", delete)

    def ping(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._probe.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailable(self._failed("answer", error)) from error


def open_objects(url: str, endpoint_url: str | None = None, retry_seconds: float = 60.0) -> Objects:
    """The backend a ``SENTIMENT_MODELS_STORE`` value names: s3://... or a folder."""
    if url.startswith(S3_SCHEME):
        return S3Objects(url, endpoint_url, retry_seconds)
    return LocalObjects(Path(url))
