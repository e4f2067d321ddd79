"""The two backends of the models store keep one contract, checked on a local folder
and on a real S3 server (SeaweedFS)."""

import pytest

from app.registry.objects import LocalObjects, ObjectMissing, Objects, S3Objects, StoreUnavailable
from tests.support.services import free_port


@pytest.fixture(params=["local", "s3"])
def objects(request, tmp_path, monkeypatch) -> Objects:
    if request.param == "local":
        return LocalObjects(tmp_path / "store")
    server = request.getfixturevalue("s3_server")
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    return S3Objects(f"s3://{server.new_bucket()}/some/prefix", retry_seconds=2)


def a_folder(tmp_path, name="tree"):
    folder = tmp_path / name
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "weights").write_bytes(b"\x00\x01" * 1000)
    (folder / "vocabulary.txt").write_text("good\nbad\n")
    (folder / "manifest.json").write_text("{}")
    return folder


def test_a_tree_moves_in_whole_and_its_folder_is_consumed(objects, tmp_path):
    folder = a_folder(tmp_path)
    objects.put_tree(folder, "imdb-sentiment/3", last="manifest.json")
    assert not folder.exists()
    assert objects.keys("imdb-sentiment/") == [
        "imdb-sentiment/3/manifest.json",
        "imdb-sentiment/3/variables/weights",
        "imdb-sentiment/3/vocabulary.txt",
    ]
    assert objects.get_bytes("imdb-sentiment/3/variables/weights") == b"\x00\x01" * 1000
    assert objects.children("imdb-sentiment/") == ["3"]
    assert objects.exists("imdb-sentiment/3/manifest.json")
    download = tmp_path / "download.txt"
    objects.get_file("imdb-sentiment/3/vocabulary.txt", download)
    assert download.read_text() == "good\nbad\n"


def test_a_tree_replaces_what_was_under_its_prefix(objects, tmp_path):
    objects.put_tree(a_folder(tmp_path, "first"), "v/1", last="manifest.json")
    second = tmp_path / "second"
    second.mkdir()
    (second / "manifest.json").write_text("{}")
    objects.put_tree(second, "v/1", last="manifest.json")
    assert objects.keys("v/") == ["v/1/manifest.json"]


def test_a_tree_without_its_last_file_is_refused(objects, tmp_path):
    folder = a_folder(tmp_path)
    (folder / "manifest.json").unlink()
    with pytest.raises(ValueError, match=r"manifest\.json"):
        objects.put_tree(folder, "v/1", last="manifest.json")


def test_bytes_are_replaced_whole_and_deleted_by_prefix(objects):
    objects.put_bytes(".checkpoints/job/latest", b"epoch-0001")
    objects.put_bytes(".checkpoints/job/latest", b"epoch-0002")
    objects.put_bytes(".checkpoints/other/latest", b"epoch-0001")
    assert objects.get_bytes(".checkpoints/job/latest") == b"epoch-0002"
    assert objects.children(".checkpoints/") == ["job", "other"]
    objects.delete_prefix(".checkpoints/job/")
    assert objects.children(".checkpoints/") == ["other"]


def test_a_missing_object_is_missing_not_an_outage(objects, tmp_path):
    with pytest.raises(ObjectMissing):
        objects.get_bytes("imdb-sentiment/9/manifest.json")
    with pytest.raises(ObjectMissing):
        objects.get_file("imdb-sentiment/9/manifest.json", tmp_path / "x")
    assert not objects.exists("imdb-sentiment/9/manifest.json")
    assert objects.keys("imdb-sentiment/") == [] and objects.children("nothing/") == []
    objects.ping()


@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "imdb-sentiment/../../x"])
def test_a_key_outside_the_store_is_refused(objects, key):
    with pytest.raises(ValueError, match="outside the models store"):
        objects.get_bytes(key)


def test_an_unreachable_bucket_is_reported_with_its_name_and_endpoint(monkeypatch):
    """Nothing listens at the endpoint: the probe fails at once, a call after retrying."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    down = S3Objects("s3://models/prefix", endpoint_url=endpoint, retry_seconds=1)
    for call in (down.ping, lambda: down.get_bytes("imdb-sentiment/1/manifest.json")):
        with pytest.raises(StoreUnavailable) as raised:
            call()
        assert "s3://models/prefix/" in str(raised.value) and endpoint in str(raised.value)
        assert raised.value.message == "The models store is unreachable right now; retry shortly."


def test_a_file_is_copied_in_whole(objects, tmp_path):
    source = tmp_path / "vectors.npz"
    source.write_bytes(b"v1" * 5000)
    objects.put_file(".vectors/imdb-word2vec-16d-v1.npz", source)
    source.write_bytes(b"v2" * 5000)
    objects.put_file(".vectors/imdb-word2vec-16d-v1.npz", source)
    assert objects.get_bytes(".vectors/imdb-word2vec-16d-v1.npz") == b"v2" * 5000
    assert objects.keys(".vectors/") == [".vectors/imdb-word2vec-16d-v1.npz"]
