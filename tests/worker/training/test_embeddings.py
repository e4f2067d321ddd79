import numpy as np
import pytest

from app.specs.spec import EmbeddingSpec
from worker.training.embeddings import (
    VectorsError,
    build_embedding_matrix,
    matrix_for,
    read_glove,
    train_word2vec,
)

VOCABULARY = ["the", "movie", "great", "awful", "zzqunknown"]


def write_glove(path, words, dim, rng):
    path.parent.mkdir(parents=True, exist_ok=True)
    vectors = {word: rng.normal(size=dim).astype(np.float32) for word in words}
    path.write_text(
        "".join(
            f"{word} {' '.join(f'{v:.6f}' for v in vector)}\n" for word, vector in vectors.items()
        ),
        encoding="utf-8",
    )
    return vectors


def test_word2vec_learns_vectors_for_the_words_of_real_reviews(corpus):
    vectors = train_word2vec(
        corpus.train.texts[:1000] + corpus.train.texts[-1000:], dim=16, workers=1
    )
    assert len(vectors) > 1000
    assert vectors["movie"].shape == (16,)
    assert "<br" not in "".join(vectors)  # line breaks are standardized away
    embedding = matrix_for(["movie", "film", "zzqunknown"], vectors, 16)
    assert embedding.covered == 2
    assert embedding.coverage == pytest.approx(2 / 3)
    assert not embedding.matrix[4].any()  # the unknown word starts at zero
    assert not embedding.matrix[:2].any()  # padding and the unknown-word id too


def test_a_glove_file_in_the_vectors_folder_seeds_the_matrix(settings):
    rng = np.random.default_rng(0)
    vectors = write_glove(
        settings.vectors_dir / "glove.test.8d.txt", ["the", "movie", "great", "other"], 8, rng
    )
    embedding = build_embedding_matrix(
        EmbeddingSpec(dim=8, pretrained="glove.test.8d"),
        VOCABULARY,
        settings.imdb_path,
        settings.cache_dir,
        settings.vectors_dir,
    )
    assert embedding is not None
    assert embedding.matrix.shape == (len(VOCABULARY) + 2, 8)
    assert np.allclose(embedding.matrix[2 + VOCABULARY.index("movie")], vectors["movie"], atol=1e-6)
    assert (embedding.covered, embedding.vocabulary_words) == (3, 5)


def test_no_pretrained_vectors_means_a_random_start(settings):
    spec = EmbeddingSpec(pretrained=None)
    assert (
        build_embedding_matrix(
            spec, VOCABULARY, settings.imdb_path, settings.cache_dir, settings.vectors_dir
        )
        is None
    )


def test_a_dimension_mismatch_says_which_dim_to_use(tmp_path):
    write_glove(tmp_path / "g.txt", ["movie"], 8, np.random.default_rng(0))
    with pytest.raises(VectorsError, match=r"expected the word and 16 numbers .*found 8"):
        read_glove(tmp_path / "g.txt", 16)


def test_an_unknown_vectors_name_lists_the_available_files(settings):
    write_glove(settings.vectors_dir / "glove.small.txt", ["movie"], 4, np.random.default_rng(0))
    with pytest.raises(
        VectorsError, match=r"no vectors file named 'glove.6B.100d'.*glove.small.txt"
    ):
        build_embedding_matrix(
            EmbeddingSpec(pretrained="glove.6B.100d"),
            VOCABULARY,
            settings.imdb_path,
            settings.cache_dir,
            settings.vectors_dir,
        )
