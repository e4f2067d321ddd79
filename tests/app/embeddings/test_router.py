"""The embedding explorer: nearest words and 2-D projections, from imdb-word2vec
vectors and from a model version's learned embedding layer."""

import numpy as np

from tests.support.api import settings_of
from tests.support.serving import register_copy
from worker.training.data import load_imdb
from worker.training.embeddings import train_word2vec
from worker.training.word2vec_cache import word2vec_cache_path, write_vectors


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
