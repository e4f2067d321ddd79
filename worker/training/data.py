"""The IMDB Large Movie Review Dataset v1.0: find it, check it, read it.

The dataset is read from the official archive (``aclImdb_v1.tar.gz``) or from an
extracted ``aclImdb/`` folder. Either way the reviews come out in the same
order (positive then negative, by review id), so both sources give identical
arrays. Structure and counts are checked, not a checksum, so a user's own copy
of the official archive loads like the repack used here.
"""

import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REVIEWS_PER_CLASS = 12_500
# The dataset keeps at most 30 reviews a movie, and its ids run movie by movie within a
# class (a movie's positive and negative reviews are not side by side).
MOVIE_RUN = 30
UNSUP_REVIEWS = 50_000
READ_REPORT = 250  # reviews between two progress reports while reading
LABELLED_GROUPS = ("train/pos", "train/neg", "test/pos", "test/neg")
REVIEW_NAME = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")


class ImdbDataError(ValueError):
    """The IMDB data is missing, truncated or not in the official layout."""


@dataclass(frozen=True)
class ImdbSplit:
    texts: list[str]
    labels: np.ndarray  # 1 positive, 0 negative
    ratings: np.ndarray  # the star rating from the file name, 1-10

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class ImdbCorpus:
    train: ImdbSplit
    test: ImdbSplit
    unsup: list[str]  # empty unless asked for


@dataclass(frozen=True)
class _Review:
    group: str  # "train/pos"
    review_id: int
    rating: int
    text: str


def load_imdb(
    path: Path, include_unsup: bool = False, on_read: Callable[[int], None] | None = None
) -> ImdbCorpus:
    """Read the dataset from an archive or an extracted folder and check it;
    ``on_read`` learns the count of reviews read so far, every ``READ_REPORT``."""
    path = _existing(path)
    if path.is_dir():
        source = _read_folder(_dataset_root(path), include_unsup)
    else:
        source = _read_archive(path, include_unsup)
    reviews = []
    for review in source:
        reviews.append(review)
        if on_read is not None and len(reviews) % READ_REPORT == 0:
            on_read(len(reviews))
    return _assemble(reviews, str(path), include_unsup)


def review_count(include_unsup: bool) -> int:
    """The reviews :func:`load_imdb` reads."""
    return len(LABELLED_GROUPS) * REVIEWS_PER_CLASS + (UNSUP_REVIEWS if include_unsup else 0)


def source_fingerprint(path: Path) -> str:
    """Identifies a dataset copy cheaply (path, sizes, modification times), for cache keys."""
    path = _existing(path).resolve()
    if path.is_dir():
        root = _dataset_root(path)
        parts = [str(root)]
        for group in LABELLED_GROUPS:
            stat = (root / group).stat()
            parts.append(f"{group}:{stat.st_mtime_ns}")
        return "|".join(parts)
    stat = path.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def _existing(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise ImdbDataError(
            f"IMDB data not found at {str(path)!r}: expected the aclImdb_v1.tar.gz archive "
            "or an extracted aclImdb/ folder there. Run `make data` to fetch it, or set "
            "SENTIMENT_IMDB_PATH."
        )
    return path


def _dataset_root(folder: Path) -> Path:
    """Accept the aclImdb/ folder itself or the folder that holds it."""
    for candidate in (folder, folder / "aclImdb"):
        if all((candidate / group).is_dir() for group in LABELLED_GROUPS):
            return candidate
    found = sorted(
        str(p.relative_to(folder)) for p in folder.glob("*") if not p.name.startswith(".")
    )
    raise ImdbDataError(
        f"{str(folder)!r} is not an IMDB dataset folder: expected the folders "
        f"{', '.join(LABELLED_GROUPS)} (in it or in an aclImdb/ inside it), "
        f"found {found[:10] or 'nothing'}"
    )


def _read_folder(root: Path, include_unsup: bool) -> Iterator[_Review]:
    groups = [*LABELLED_GROUPS, "train/unsup"] if include_unsup else list(LABELLED_GROUPS)
    for group in groups:
        folder = root / group
        if not folder.is_dir():
            raise ImdbDataError(f"expected the folder {group}/ under {str(root)!r}; it is missing")
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries if entry.name.endswith(".txt")]
        for name in names:
            match = REVIEW_NAME.search(f"aclImdb/{group}/{name}")
            if match is None:
                continue
            with open(folder / name, encoding="utf-8") as handle:
                yield _Review(group, int(match[3]), int(match[4]), handle.read())


def _read_archive(path: Path, include_unsup: bool) -> Iterator[_Review]:
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:
                match = REVIEW_NAME.search(member.name)
                if match is None or not member.isfile():
                    continue
                if match[2] == "unsup" and not include_unsup:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                text = handle.read().decode("utf-8")
                yield _Review(f"{match[1]}/{match[2]}", int(match[3]), int(match[4]), text)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ImdbDataError(
            f"cannot read the archive {str(path)!r}: it is truncated or not a tar.gz archive "
            f"({type(error).__name__}: {error}). Expected aclImdb_v1.tar.gz "
            "(84,125,825 bytes when downloaded from the official address)."
        ) from error


def _assemble(reviews: list[_Review], source: str, include_unsup: bool) -> ImdbCorpus:
    by_group: dict[str, list[_Review]] = {}
    for review in reviews:
        by_group.setdefault(review.group, []).append(review)
    expected = {group: REVIEWS_PER_CLASS for group in LABELLED_GROUPS}
    if include_unsup:
        expected["train/unsup"] = UNSUP_REVIEWS
    wrong = [
        f"{group}: expected {count:,}, found {len(by_group.get(group, [])):,}"
        for group, count in expected.items()
        if len(by_group.get(group, [])) != count
    ]
    if wrong:
        raise ImdbDataError(
            f"the IMDB data at {source!r} is incomplete or not the official layout "
            f"(aclImdb/train|test/pos|neg/<id>_<rating>.txt): {'; '.join(wrong)}"
        )
    for group in by_group.values():
        group.sort(key=lambda review: review.review_id)
    return ImdbCorpus(
        train=_split(by_group["train/pos"], by_group["train/neg"]),
        test=_split(by_group["test/pos"], by_group["test/neg"]),
        unsup=[review.text for review in by_group.get("train/unsup", [])],
    )


def _split(positive: list[_Review], negative: list[_Review]) -> ImdbSplit:
    reviews = positive + negative
    return ImdbSplit(
        texts=[review.text for review in reviews],
        labels=np.array([1] * len(positive) + [0] * len(negative), dtype=np.int8),
        ratings=np.array([review.rating for review in reviews], dtype=np.int8),
    )


def id_runs(labels: np.ndarray, width: int = MOVIE_RUN) -> np.ndarray:
    """Per row of a labelled split (``ImdbSplit``'s order: a class's rows by review id),
    its run of ``width`` consecutive ids within its class, numbered apart per class. The
    ids run movie by movie (the dataset's own URL lists, which a repack may leave out,
    name each review's movie page), so a run of ``MOVIE_RUN`` stands for a movie: one
    movie's reviews of that class, or the ends of two."""
    positive = np.asarray(labels) == 1
    rank_in_class = np.where(positive, np.cumsum(positive), np.cumsum(~positive)) - 1
    runs: np.ndarray = (rank_in_class // width) * 2 + positive
    return runs


def prepare_imdb(target: Path, archives: Iterable[Path], url: str) -> Path:
    """The setup step: make sure an extracted dataset sits at ``target``.

    Uses ``target`` if it already holds the dataset; otherwise extracts the first
    local archive found among ``archives``; otherwise downloads ``url``.
    Returns the dataset folder.
    """
    target = Path(target)
    if target.is_dir():
        _dataset_root(target)  # raises if the layout is wrong
        return target
    archive = next((Path(a) for a in archives if Path(a).is_file()), None)
    if archive is None:
        archive = target.parent / "aclImdb_v1.tar.gz"
        download(url, archive)
    extract_archive(archive, target)
    return target


def extract_archive(archive: Path, target: Path) -> None:
    """Extract next to ``target``, then rename: an interrupted run leaves no half folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".aclImdb-", dir=target.parent))
    try:
        try:
            with tarfile.open(archive, mode="r:*") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise ImdbDataError(
                f"cannot extract {str(archive)!r}: it is truncated or not a tar.gz archive "
                f"({type(error).__name__}: {error})"
            ) from error
        root = _dataset_root(staging)
        os.replace(root, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(url: str, destination: Path) -> None:
    """Download with a progress bar, into a temporary name first."""
    from tqdm import tqdm

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise ImdbDataError(
            f"could not download the IMDB archive from {url}: {error}. Copy aclImdb_v1.tar.gz "
            f"to {str(destination)!r} by hand, or set SENTIMENT_IMDB_PATH to a copy."
        ) from error
    os.replace(partial, destination)
