"""The embedding explorer: nearest words and 2-D projections, from imdb-word2vec
vectors and from a model version's learned embedding layer."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from app.registry import store
from tests.support.api import app_settings, running_app, settings_of
from tests.support.serving import register_copy
from worker.training.data import load_imdb
from worker.training.embeddings import imdb_word2vec, train_word2vec
from worker.training.word2vec_cache import word2vec_cache_path, word2vec_store_key, write_vectors


def model_vectors(folder: Path) -> dict[str, np.ndarray]:
    """Each word's row of the exported model's embedding layer, found by its name in the
    loaded SavedModel (rows 0 and 1 are the padding and unknown tokens)."""
    words = (folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    loaded = tf.saved_model.load(str(folder))
    (matrix,) = [
        variable.numpy()
        for variable in loaded.variables
        if variable.name.endswith("/embedding/embeddings:0")
    ]
    assert matrix.shape[0] == len(words) + 2
    return {word: matrix[row + 2] for row, word in enumerate(words)}


def assert_nearest(
    neighbors: list[dict[str, Any]], word: str, vectors: dict[str, np.ndarray], k: int
) -> None:
    """The answer is the ``k`` words of highest cosine similarity with ``word``, by
    decreasing similarity, each with its cosine, computed here from the vectors."""
    target = vectors[word]

    def cosine(vector: np.ndarray) -> float:
        norms = float(np.linalg.norm(vector) * np.linalg.norm(target))
        return float(np.dot(vector, target)) / norms if norms else 0.0

    cosines = {other: cosine(vector) for other, vector in vectors.items() if other != word}
    returned = [n["word"] for n in neighbors]
    similarities = [n["similarity"] for n in neighbors]
    assert len(returned) == k and len(set(returned)) == k and word not in returned
    assert similarities == sorted(similarities, reverse=True)
    for neighbor in neighbors:
        # The answer rounds to 4 decimals.
        assert neighbor["similarity"] == pytest.approx(cosines[neighbor["word"]], abs=1e-4)
    closest_left_out = max(c for other, c in cosines.items() if other not in returned)
    assert similarities[-1] >= closest_left_out - 1e-4  # nothing outside the list is closer


def test_neighbors_and_projection_in_a_models_embedding(api, exported):
    settings = settings_of(api)
    version = register_copy(settings.database_url, settings.models_store, exported, 0.8)
    answer = api.get(f"/v1/embeddings/neighbors?word=movie&k=5&version={version}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["source"] == f"model version {version}" and body["word"] == "movie"
    similarities = [n["similarity"] for n in body["neighbors"]]
    assert len(similarities) == 5 and similarities == sorted(similarities, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in similarities)
    assert "movie" not in {n["word"] for n in body["neighbors"]}
    assert not {"[padding]", "[unknown]"} & {n["word"] for n in body["neighbors"]}
    assert_nearest(body["neighbors"], "movie", model_vectors(exported), 5)

    words = ["good", "great", "bad", "awful", "movie"]
    projected = api.post("/v1/embeddings/projection", json={"words": words, "version": version})
    assert projected.status_code == 200, projected.text
    points = projected.json()["points"]
    assert [p["word"] for p in points] == words
    xs = np.array([[p["x"], p["y"]] for p in points])
    assert np.allclose(xs.mean(axis=0), 0, atol=1e-3)  # centered, as PCA is

    unknown = api.get(f"/v1/embeddings/neighbors?word=xyzzyplugh&version={version}")
    assert unknown.status_code == 404
    assert (
        "'xyzzyplugh' is not in the vocabulary of model version"
        in unknown.json()["error"]["message"]
    )
    missing = api.post(
        "/v1/embeddings/projection", json={"words": ["good", "qqqzzz"], "version": version}
    )
    assert missing.status_code == 404 and "['qqqzzz']" in missing.json()["error"]["message"]
    assert api.get("/v1/embeddings/neighbors?word=good&version=999").status_code == 404


def test_imdb_word2vec_neighbors_once_the_vectors_exist(api, imdb_path):
    settings = settings_of(api)
    absent = api.get("/v1/embeddings/neighbors?word=good&dim=16")
    assert absent.status_code == 409
    assert "not trained yet" in absent.json()["error"]["message"]

    # Real word2vec vectors (a slice of the reviews, to stay quick), where the service
    # keeps the trained ones.
    corpus = load_imdb(imdb_path)
    vectors = train_word2vec(
        corpus.train.texts[:1500] + corpus.train.texts[-1500:], dim=16, workers=1
    )
    path = word2vec_cache_path(16, settings.imdb_path, settings.cache_dir)
    write_vectors(path, vectors)

    answer = api.get("/v1/embeddings/neighbors?word=Good&dim=16&k=10")
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == "imdb-word2vec (16-d)"
    assert answer.json()["word"] == "good" and len(answer.json()["neighbors"]) == 10
    assert_nearest(answer.json()["neighbors"], "good", vectors, 10)


def test_imdb_word2vec_trained_on_one_host_is_read_on_the_others(s3_settings, imdb_path, tmp_path):
    """With a bucket models store, the host that trains the vectors shares them there;
    a second worker host reads them instead of training, the API host (which has no
    dataset) serves them."""
    corpus = load_imdb(imdb_path)
    vectors = train_word2vec(
        corpus.train.texts[:1500] + corpus.train.texts[-1500:], dim=16, workers=1
    )
    first_host = tmp_path / "worker-1" / "cache"
    made = word2vec_cache_path(16, imdb_path, first_host)
    write_vectors(made, vectors)
    models = store.open_store(s3_settings)
    models.share(word2vec_store_key(16), made)  # as imdb_word2vec does after training

    read = imdb_word2vec(16, imdb_path, tmp_path / "worker-2" / "cache", models=models)
    assert read.keys() == vectors.keys()  # trained on the whole data, they would differ
    assert all(np.array_equal(read[word], vectors[word]) for word in ("good", "bad", "film"))

    api_host = app_settings(
        tmp_path,
        imdb_path=tmp_path / "no-dataset-on-this-host",
        data_dir=tmp_path / "api-host" / "data",
        models_store=s3_settings.models_store,
        models_cache=tmp_path / "api-host" / "models-cache",
    )
    with running_app(api_host) as api:
        answer = api.get("/v1/embeddings/neighbors?word=good&dim=16&k=10")
        assert answer.status_code == 200, answer.text
        assert_nearest(answer.json()["neighbors"], "good", vectors, 10)
