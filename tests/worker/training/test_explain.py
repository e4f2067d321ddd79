"""The ``explain`` signature on real models and 100 real test reviews: the contributions
add up to the score (exactly for `best`'s kind of bag, within integrated gradients'
tolerance otherwise), the words they rank first matter more than random ones, and
TensorFlow alone computes the same explanation as the service."""

import numpy as np
import pytest

from app.predict.explanations import explanation
from app.predict.loader import LoadedModel
from app.registry.artifact import EXPLAIN_OUTPUTS
from tests.support.exports import (
    EXPLAIN_WITH_TENSORFLOW_ALONE,
    REVIEWS,
    load_with_tensorflow_alone,
)
from tests.support.specs import NB_TRIGRAM_BAG, tiny_spec
from worker.training.export import export_saved_model
from worker.training.pipeline import train

# `best`'s kind of network (a binarized, NB-weighted bag of n-grams: exact), the
# course's LSTM and a bag with a hidden layer (integrated gradients; the second maps
# the binarized bag's sorted, distinct ids back onto the text).
SPECS = {
    "nb-trigram-bag": NB_TRIGRAM_BAG | {"epochs": 3, "train_size": 3000},
    "lstm": {"architecture": "lstm", "units": 16, "epochs": 3, "train_size": 3000},
    "hidden-layer-bag": {
        "architecture": "dense",
        "pooling": "average",
        "hidden_layers": [16],
        "sequence": {"max_len": 64, "vocab_size": 5000, "binary": True},
        "epochs": 4,
        "train_size": 3000,
    },
}
# Integrated gradients' sums miss the logit's change by the midpoint rule's error; at
# the default 64 steps these models stay far inside this.
IG_TOLERANCE_RELATIVE, IG_TOLERANCE_ABSOLUTE = 0.01, 1e-3
REMOVED = 5  # words taken out of each review: the top ones, or random ones


@pytest.fixture(scope="module", params=list(SPECS))
def served(request, imdb_path, session_data_dir, tmp_path_factory):
    """The model exported (calibrated: its contributions are on that scale too) and
    loaded by the service's own loader."""
    from app.core.settings import Settings

    settings = Settings(imdb_path=imdb_path, data_dir=session_data_dir)
    result = train(tiny_spec(name=request.param, **SPECS[request.param]), settings)
    folder = tmp_path_factory.mktemp("explained") / "model"
    export_saved_model(result.model, result.vocabulary, result.spec, {}, folder, temperature=1.3)
    return request.param, folder, LoadedModel(1, request.param, folder), result


@pytest.fixture(scope="module")
def reviews(corpus):
    """100 real test reviews, both classes."""
    rng = np.random.default_rng(0)
    return [corpus.test.texts[i] for i in rng.choice(len(corpus.test), 100, replace=False)]


def test_the_contributions_add_up_to_the_score(served, reviews):
    name, _, model, _ = served
    texts = reviews + REVIEWS
    rows = model.explain(texts)
    scores = np.array(model.score(texts))
    logits = np.array([row["logit"] for row in rows])
    gaps = np.array([row["logit"] - row["base_value"] - sum(row["contributions"]) for row in rows])
    changes = np.abs(logits - np.array([row["base_value"] for row in rows]))
    assert np.abs(np.array([row["probability"] for row in rows]) - scores).max() < 1e-5
    if name == "nb-trigram-bag":
        assert {row["method"] for row in rows} == {"exact"}
        assert np.abs(gaps).max() < 1e-5
    else:
        assert {row["method"] for row in rows} == {"integrated_gradients"}
        assert (np.abs(gaps) <= IG_TOLERANCE_RELATIVE * changes + IG_TOLERANCE_ABSOLUTE).all()
    assert changes.max() > 0.1  # a model that moved: the sums are no trivial zeros
    # The API's form keeps the sum: listed tokens, the rest, the base value.
    for text, row in zip(texts, rows, strict=True):
        found = explanation(text, row, top=10)
        listed = sum(token.contribution for token in found.tokens)
        assert found.base_value + listed + found.other == pytest.approx(
            found.base_value + sum(row["contributions"]), abs=1e-4
        )
        assert sum(w.contribution for w in found.words) == pytest.approx(
            listed + found.other, abs=1e-4
        )


def without_words(text, words):
    """``text`` with these words (``WordShare``s with their spans) taken out."""
    for word in sorted(words, key=lambda w: -w.start):
        text = text[: word.start] + " " + text[word.end :]
    return text


def test_removing_the_top_words_moves_the_score_more_than_removing_random_ones(served, reviews):
    _, _, model, _ = served
    rng = np.random.default_rng(1)
    found = [
        explanation(text, row, top=10)
        for text, row in zip(reviews, model.explain(reviews), strict=True)
    ]
    top, random = [], []
    for text, explained in zip(reviews, found, strict=True):
        read = explained.words
        assert read and all(word.start is not None for word in read)
        ranked = sorted(read, key=lambda w: -abs(w.contribution))[:REMOVED]
        drawn = [read[i] for i in rng.choice(len(read), min(REMOVED, len(read)), replace=False)]
        top.append(without_words(text, ranked))
        random.append(without_words(text, drawn))
    before = np.array(model.score(reviews))
    top_change = np.abs(np.array(model.score(top)) - before).mean()
    random_change = np.abs(np.array(model.score(random)) - before).mean()
    assert top_change > random_change, (top_change, random_change)


def test_tensorflow_alone_explains_as_the_service_does(served, reviews, tmp_path):
    _, folder, model, _ = served
    texts = reviews[:20] + REVIEWS
    fresh = load_with_tensorflow_alone(folder, texts, tmp_path, EXPLAIN_WITH_TENSORFLOW_ALONE)
    assert fresh["project_modules"] == []
    alone = fresh["explain"]
    assert set(alone) == set(EXPLAIN_OUTPUTS)  # the artifact's documented outputs, all
    for index, row in enumerate(model.explain(texts)):
        kept = len(row["contributions"])
        assert alone["tokens"][index][:kept] == row["tokens"]
        assert alone["starts"][index][:kept] == row["starts"]
        assert (
            np.abs(np.array(alone["contributions"][index][:kept]) - row["contributions"]).max(
                initial=0
            )
            < 1e-5
        )
        for key in ("base_value", "logit", "probability"):
            assert abs(alone[key][index] - row[key]) < 1e-5


def test_a_models_drivers_are_its_explanations_summed_over_test_reviews(served, reviews):
    """``explain.drivers`` (from the padded ids a job holds) against the exported
    signature's explanations of the same reviews' raw text, summed by token."""
    from collections import defaultdict

    import tensorflow as tf

    from worker.training.explain import DRIVER_STEPS, DriverExplainer, drivers
    from worker.training.text import PadSequencesPre, make_vectorizer

    name, _, model, result = served
    sequence = result.spec.sequence
    vectorizer = make_vectorizer(len(result.vocabulary) + 2, result.vocabulary, sequence.ngrams)
    ids = PadSequencesPre(sequence.max_len)(vectorizer(tf.constant(reviews))).numpy()
    explainer = DriverExplainer(result.model, result.spec, DRIVER_STEPS)
    found = drivers(explainer, ids, result.vocabulary, 1.3)
    assert found["reviews"] == min(len(reviews), 2000 if name == "nb-trigram-bag" else 64)
    summed: dict[str, float] = defaultdict(float)
    counted = reviews if found["reviews"] == len(reviews) else None
    if counted is None:  # integrated gradients: evenly spaced, as drivers samples them
        rows = np.linspace(0, len(reviews) - 1, found["reviews"]).round().astype(int)
        counted = [reviews[i] for i in rows]
    for row in model.explain(counted):
        for token, contribution in zip(row["tokens"], row["contributions"], strict=True):
            summed[token] += contribution
    listed = found["positive"] + found["negative"]
    assert found["positive"] and found["negative"]
    assert [d["total"] for d in found["positive"]] == sorted(
        (d["total"] for d in found["positive"]), reverse=True
    )
    assert all(d["total"] > 0 for d in found["positive"])
    assert all(d["total"] < 0 for d in found["negative"])
    # The signature explained here takes 64 steps, drivers 32: close, not equal.
    exact = name == "nb-trigram-bag"
    for driver in listed:
        if driver["token"] != "[unknown]":  # the text names each unknown word itself
            expected = pytest.approx(summed[driver["token"]], abs=1e-3, rel=0 if exact else 0.05)
            assert driver["total"] == expected
