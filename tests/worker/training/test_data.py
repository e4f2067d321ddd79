import tarfile
from pathlib import Path

import numpy as np
import pytest

from worker.training.data import ImdbDataError, id_runs, load_imdb, prepare_imdb

ARCHIVE_NAME = "aclImdb_v1.tar.gz"


def copy_reviews(
    source: Path,
    target: Path,
    per_group: int,
    groups=("train/pos", "train/neg", "test/pos", "test/neg"),
):
    """A small dataset in the official layout, made of real reviews."""
    root = Path(source)
    root = root / "aclImdb" if (root / "aclImdb").is_dir() else root
    for group in groups:
        (target / "aclImdb" / group).mkdir(parents=True)
        for review in sorted((root / group).iterdir())[:per_group]:
            (target / "aclImdb" / group / review.name).write_bytes(review.read_bytes())
    return target / "aclImdb"


def make_archive(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return archive


def test_the_real_dataset_loads_with_its_counts_labels_and_ratings(corpus):
    assert (len(corpus.train), len(corpus.test)) == (25_000, 25_000)
    assert corpus.train.labels.sum() == 12_500 and corpus.test.labels.sum() == 12_500
    assert corpus.train.texts[0].startswith("Bromwell High is a cartoon comedy.")
    positive = corpus.train.ratings[corpus.train.labels == 1]
    negative = corpus.train.ratings[corpus.train.labels == 0]
    assert positive.min() >= 7 and positive.max() == 10
    assert negative.min() == 1 and negative.max() <= 4
    assert corpus.train.ratings[0] == 9  # train/pos/0_9.txt
    assert corpus.unsup == []


def test_a_short_copy_is_refused_with_its_counts_from_either_source(imdb_path, tmp_path):
    folder = copy_reviews(imdb_path, tmp_path / "copy", per_group=5)
    archive = make_archive(folder, tmp_path / ARCHIVE_NAME)
    with pytest.raises(ImdbDataError) as from_folder:
        load_imdb(folder)
    with pytest.raises(ImdbDataError) as from_archive:
        load_imdb(archive)
    # Both are complete but for their counts, and both say so the same way.
    for error in (from_folder.value, from_archive.value):
        assert "train/pos: expected 12,500, found 5" in str(error)


def test_both_sources_read_identically(imdb_path):
    if not Path(imdb_path).is_dir():
        pytest.skip(
            "SENTIMENT_IMDB_PATH is an archive; the folder comparison needs an extracted copy"
        )
    archive = next(
        (
            p
            for p in (Path("data") / ARCHIVE_NAME, Path("../shared/data") / ARCHIVE_NAME)
            if p.is_file()
        ),
        None,
    )
    if archive is None:
        pytest.skip("no aclImdb_v1.tar.gz next to the extracted data to compare with")
    from_folder, from_archive = load_imdb(imdb_path), load_imdb(archive)
    assert from_folder.train.texts == from_archive.train.texts
    assert from_folder.test.texts == from_archive.test.texts
    assert np.array_equal(from_folder.test.ratings, from_archive.test.ratings)


def test_a_missing_path_says_what_was_expected(tmp_path):
    with pytest.raises(
        ImdbDataError, match=r"IMDB data not found at .*expected the aclImdb_v1.tar.gz archive"
    ):
        load_imdb(tmp_path / "nowhere")


def test_a_truncated_archive_is_reported_as_truncated(imdb_path, tmp_path):
    folder = copy_reviews(imdb_path, tmp_path / "copy", per_group=50)
    whole = make_archive(folder, tmp_path / "whole.tar.gz").read_bytes()
    truncated = tmp_path / ARCHIVE_NAME
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImdbDataError, match=r"truncated or not a tar\.gz archive"):
        load_imdb(truncated)


def test_a_file_that_is_not_an_archive_is_refused(tmp_path):
    bogus = tmp_path / ARCHIVE_NAME
    bogus.write_text("not an archive")
    with pytest.raises(ImdbDataError, match=r"truncated or not a tar\.gz archive"):
        load_imdb(bogus)


def test_a_folder_in_the_wrong_layout_names_what_it_found(tmp_path):
    (tmp_path / "reviews" / "positive").mkdir(parents=True)
    with pytest.raises(ImdbDataError) as caught:
        load_imdb(tmp_path / "reviews")
    message = str(caught.value)
    assert "expected the folders train/pos, train/neg, test/pos, test/neg" in message
    assert "positive" in message


def test_missing_reviews_are_counted(imdb_path, tmp_path):
    folder = copy_reviews(imdb_path, tmp_path / "copy", per_group=3)
    for review in list((folder / "test" / "neg").iterdir())[:2]:
        review.unlink()
    with pytest.raises(ImdbDataError, match="test/neg: expected 12,500, found 1"):
        load_imdb(folder)


def test_prepare_extracts_a_local_archive_once(imdb_path, tmp_path):
    folder = copy_reviews(imdb_path, tmp_path / "copy", per_group=4)
    archive = make_archive(folder, tmp_path / ARCHIVE_NAME)
    target = tmp_path / "data" / "aclImdb"
    url = "http://127.0.0.1:9/never-used"
    assert prepare_imdb(target, [tmp_path / "absent.tar.gz", archive], url) == target
    assert len(list((target / "train" / "pos").iterdir())) == 4
    assert [p.name for p in target.parent.iterdir()] == ["aclImdb"]  # no staging left behind
    archive.unlink()
    assert prepare_imdb(target, [archive], url) == target  # already there: nothing to do


def test_prepare_without_any_copy_reports_the_failed_download(tmp_path):
    with pytest.raises(
        ImdbDataError, match=r"could not download the IMDB archive from http://127\.0\.0\.1:9/"
    ):
        prepare_imdb(tmp_path / "aclImdb", [], "http://127.0.0.1:9/aclImdb_v1.tar.gz")
    assert list(tmp_path.iterdir()) == []


def test_id_runs_group_thirty_consecutive_ids_of_a_class():
    labels = np.array([1] * 61 + [0] * 35)
    runs = id_runs(labels)
    positive, negative = runs[:61], runs[61:]
    assert len(set(positive[:30])) == len(set(positive[30:60])) == len(set(positive[60:])) == 1
    assert len(set(positive)) == 3 and len(set(negative)) == 2
    assert negative[29] != negative[30]  # the 31st negative review starts a new run
    assert not set(positive) & set(negative)  # a class's runs are its own
    assert id_runs(labels, 100).tolist() == [1] * 61 + [0] * 35  # one block a class
