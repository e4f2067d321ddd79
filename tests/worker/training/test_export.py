import json

import numpy as np
import pytest
import tensorflow as tf

from app.registry.artifact import MANIFEST, Manifest, verify_checksums
from tests.support.exports import REVIEWS, load_with_tensorflow_alone
from tests.support.specs import NB_TRIGRAM_BAG, tiny_spec
from worker.training.evaluation import calibrated
from worker.training.export import export_saved_model
from worker.training.pipeline import train
from worker.training.text import NgramIds, PadSequencesPre, make_vectorizer

# The words-only LSTM, the bag of words and bigrams of `best-bigram-bag`, the
# binarized, NB-weighted bag of n-grams up to trigrams of `best` (its weights must
# travel inside the SavedModel), and a bag of words with a hidden layer (served by
# its vectors, not by one logit per token).
SPECS = {
    "lstm": {"architecture": "lstm", "epochs": 2, "train_size": 400},
    "bigram-bag": {
        "architecture": "dense",
        "pooling": "average",
        "sequence": {"max_len": 64, "vocab_size": 5000, "ngrams": 2},
        "epochs": 2,
        "train_size": 400,
    },
    "nb-trigram-bag": NB_TRIGRAM_BAG | {"epochs": 2, "train_size": 400},
    "hidden-layer-bag": {
        "architecture": "dense",
        "pooling": "average",
        "hidden_layers": [16],
        "sequence": {"max_len": 64, "vocab_size": 5000},
        "epochs": 2,
        "train_size": 400,
    },
}


@pytest.fixture(scope="module", params=list(SPECS))
def trained(request, imdb_path, session_data_dir, tmp_path_factory):
    from app.core.settings import Settings

    vectors = tmp_path_factory.mktemp("export-vectors")
    settings = Settings(imdb_path=imdb_path, data_dir=session_data_dir, vectors_dir=vectors)
    return train(tiny_spec(**SPECS[request.param]), settings)


def in_memory_scores(result, texts):
    ngrams = result.spec.sequence.ngrams
    vectorizer = make_vectorizer(len(result.vocabulary) + 2, result.vocabulary, ngrams)
    ids = PadSequencesPre(result.spec.sequence.max_len)(vectorizer(tf.constant(texts)))
    return result.model.predict(ids, verbose=0).ravel()


def test_the_savedmodel_scores_raw_text_in_a_fresh_process_like_the_model_in_memory(
    trained, tmp_path
):
    folder = tmp_path / "1"
    metadata = {"test": trained.test_metrics}
    temperature = trained.temperature  # fitted on the run's validation predictions
    assert temperature != 1.0  # so the scores below hold the calibration too
    export_saved_model(
        trained.model, trained.vocabulary, trained.spec, metadata, folder, temperature=temperature
    )
    answer = load_with_tensorflow_alone(folder, REVIEWS, tmp_path)
    assert answer["project_modules"] == []
    raw = in_memory_scores(trained, REVIEWS)
    np.testing.assert_allclose(answer["scores"], calibrated(raw, temperature), atol=1e-5)
    assert [s >= 0.5 for s in answer["scores"]] == [s >= 0.5 for s in raw]  # same decisions
    if trained.spec.sequence.nb_weights:  # so the scores above hold the trained NB weights
        assert np.count_nonzero(trained.model.get_layer("embedding").ratios) > 1000
    assert all(0.0 <= score <= 1.0 for score in answer["scores"])
    vocabulary = (folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert vocabulary == trained.vocabulary  # for the embedding explorer


def test_the_manifest_holds_spec_metrics_and_checksums(trained, tmp_path):
    folder = tmp_path / "1"
    manifest = export_saved_model(
        trained.model, trained.vocabulary, trained.spec, {"test": trained.test_metrics}, folder
    )
    assert json.loads((folder / MANIFEST).read_text()) == manifest
    assert Manifest.read(folder).as_json() == manifest  # read back as written
    assert Manifest.read(folder).metadata == {"test": trained.test_metrics}
    assert manifest["spec"]["name"] == "tiny"
    assert manifest["test"] == trained.test_metrics
    assert manifest["vocabulary_size"] == trained.spec.sequence.vocab_size
    assert "saved_model.pb" in manifest["files"]
    assert any(name.startswith("variables/") for name in manifest["files"])
    assert verify_checksums(folder) == []
    weights = next(
        path
        for path in (folder / "variables").iterdir()
        if path.name.endswith(".data-00000-of-00001")
    )
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 0xFF  # flip one byte
    weights.write_bytes(bytes(content))
    assert verify_checksums(folder) == [weights.relative_to(folder).as_posix()]


def test_export_is_atomic_and_never_overwrites(trained, tmp_path):
    folder = tmp_path / "store" / "1"
    export_saved_model(trained.model, trained.vocabulary, trained.spec, {}, folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["1"]  # no staging folder left
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        export_saved_model(trained.model, trained.vocabulary, trained.spec, {}, folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["1"]


def test_a_bags_ids_come_without_ngram_strings_exactly_as_the_vectorizers(trained, corpus):
    """``NgramIds`` (the bags' serving text path) against the vectorizer, on a thousand
    real reviews and odd texts: the same ids, in the same order, row by row (for every
    vocabulary here, the LSTM's words too)."""
    spec = trained.spec
    texts = [*corpus.test.texts[:1000], *REVIEWS, "a", "the film", "<br />x y z!", "  "]
    vocabulary, ngrams = trained.vocabulary, spec.sequence.ngrams
    expected = make_vectorizer(len(vocabulary) + 2, vocabulary, ngrams)(tf.constant(texts))
    found = NgramIds(vocabulary, ngrams)(tf.constant(texts))
    assert found.to_list() == expected.to_list()
