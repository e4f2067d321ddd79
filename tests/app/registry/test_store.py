"""Artifacts load only from under the registry root, whatever a row says."""

import pytest

from app.registry import store


@pytest.mark.parametrize(
    "relative",
    ["../outside", "/etc", "imdb-sentiment/../../outside", "imdb-sentiment/../..", "", "."],
)
def test_a_path_outside_the_models_store_is_refused(tmp_path, relative):
    root = tmp_path / "models_store"
    root.mkdir()
    with pytest.raises(ValueError, match="outside the models store"):
        store.local_store(root).open_version(relative)


def test_a_symlink_out_of_the_models_store_is_refused(tmp_path):
    root = tmp_path / "models_store"
    (root / "imdb-sentiment").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / "imdb-sentiment" / "7").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="outside the models store"):
        store.local_store(root).open_version("imdb-sentiment/7")


def test_a_version_folder_resolves_inside_the_root(tmp_path):
    root = tmp_path / "models_store"
    (root / "imdb-sentiment" / "3").mkdir(parents=True)
    assert (
        store.local_store(root).open_version("imdb-sentiment/3")
        == (root / "imdb-sentiment" / "3").resolve()
    )
