"""Versions in a bucket reach a host only through its cache: downloaded whole, each
file checked against the manifest, bounded in size, never dropping the champion.
On the real S3 server, with a real exported SavedModel."""

import shutil
from pathlib import Path

import pytest

from app.predict.loader import LoadedModel, ModelLoadError
from app.registry import artifact, store
from app.registry.store import ModelStore
from tests.support.exports import REVIEWS


def publish_copy(models: ModelStore, exported: Path, version: int) -> str:
    staged = models.staging_path(f"job-{version}")
    shutil.copytree(exported, staged)
    return models.publish(staged, version)


def flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def weights_of(folder: Path) -> Path:
    return next((folder / "variables").glob("*.data-*"))


def test_a_version_is_downloaded_checked_and_served_from_the_cache(s3_settings, exported):
    models = store.open_store(s3_settings)
    relative = publish_copy(models, exported, 1)
    assert models.present_versions() == {relative} and models.has_version(relative)

    folder = models.open_version(relative)
    assert folder.is_relative_to(s3_settings.models_cache)
    assert artifact.verify_checksums(folder) == []
    model = LoadedModel(1, "served", folder)
    assert len(model.score(REVIEWS)) == len(REVIEWS)
    # Opened again: the same copy, not a second download.
    stamp = (folder / artifact.MANIFEST).stat().st_mtime_ns
    assert models.open_version(relative) == folder
    assert (folder / artifact.MANIFEST).stat().st_mtime_ns == stamp


def test_a_file_altered_in_the_bucket_is_refused_and_nothing_is_cached(s3_settings, exported):
    models = store.open_store(s3_settings)
    relative = publish_copy(models, exported, 2)
    name = weights_of(exported).relative_to(exported).as_posix()
    tampered = Path(s3_settings.models_cache) / "tampered"
    models.objects.get_file(f"{relative}/{name}", tampered)
    flip_a_byte(tampered)
    models.objects.put_bytes(f"{relative}/{name}", tampered.read_bytes())

    with pytest.raises(ValueError, match=f"{name} differs from its sha256"):
        models.open_version(relative)
    assert not (Path(s3_settings.models_cache) / relative).exists()


def test_a_cached_file_altered_on_disk_is_refused_then_fetched_again(s3_settings, exported):
    models = store.open_store(s3_settings)
    relative = publish_copy(models, exported, 3)
    folder = models.open_version(relative)
    flip_a_byte(weights_of(folder))

    with pytest.raises(ModelLoadError, match="failed its checksum check"):
        LoadedModel(3, "served", folder)
    models.forget(relative)  # what serving does with a copy that fails to load
    again = models.open_version(relative)
    assert artifact.verify_checksums(again) == []


def test_a_version_cut_before_its_manifest_is_never_opened(s3_settings, exported):
    """What a host that died mid-publish leaves: every file but the manifest."""
    models = store.open_store(s3_settings)
    relative = store.relative_version_path(4)
    for path in sorted(exported.rglob("*")):
        if path.is_file() and path.name != artifact.MANIFEST:
            key = f"{relative}/{path.relative_to(exported).as_posix()}"
            models.objects.put_bytes(key, path.read_bytes())

    assert models.present_versions() == set() and not models.has_version(relative)
    with pytest.raises(ValueError, match="not a complete version"):
        models.open_version(relative)


def test_the_cache_drops_the_least_recently_used_but_never_the_champion(s3_settings, exported):
    size = sum(p.stat().st_size for p in exported.rglob("*") if p.is_file())
    settings = s3_settings.model_copy(update={"models_cache_bytes": int(size * 2.5)})
    models = store.open_store(settings)
    first, second, third = (publish_copy(models, exported, v) for v in (11, 12, 13))

    champion = models.open_version(first)
    models.open_version(second, keep=[first])
    models.open_version(third, keep=[first])  # three copies do not fit: one goes

    cached = {
        p.parent.relative_to(settings.models_cache).as_posix()
        for p in Path(settings.models_cache).glob(f"{artifact.MODEL_NAME}/*/{artifact.MANIFEST}")
    }
    assert cached == {first, third}  # the oldest but kept champion stays; the next goes
    assert artifact.verify_checksums(champion) == []
