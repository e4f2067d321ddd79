"""An ensemble's SavedModel: built from real members, exported, reloaded in a fresh
process with TensorFlow alone (without its members' folders), and evaluated."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from app.jobs.progress import Phase
from app.registry import artifact
from app.registry.artifact import verify_checksums
from app.specs.spec import EnsembleSpec
from tests.support.exports import REVIEWS, load_with_tensorflow_alone
from worker.training.ensemble import (
    MIN_HELD_OUT,
    SCORE_BATCH,
    Ensemble,
    MemberLoadError,
    evaluate,
    fit_ensemble_temperature,
    load_member,
    score,
)
from worker.training.evaluation import calibrated, classification_metrics, reliability
from worker.training.export import export_ensemble
from worker.training.tracker import Tracker, TrainingStopped

WEIGHTS = [0.25, 0.75]


def member_scores(folder, texts):
    signature = tf.saved_model.load(str(folder)).signatures[artifact.SIGNATURE]
    return signature(**{artifact.INPUT: tf.constant(texts)})[artifact.OUTPUT].numpy()


@pytest.fixture
def members(exported, exported_dense, tmp_path):
    """Copies of two different real models, as a store's version folders."""
    folders = [tmp_path / "store" / "1", tmp_path / "store" / "2"]
    for source, folder in zip([exported, exported_dense], folders, strict=True):
        shutil.copytree(source, folder)
    return folders


def test_the_ensemble_reloads_alone_in_a_fresh_process_and_averages_its_members(members, tmp_path):
    expected = sum(w * member_scores(f, REVIEWS) for w, f in zip(WEIGHTS, members, strict=True))
    assert not np.allclose(member_scores(members[0], REVIEWS), member_scores(members[1], REVIEWS))
    ensemble = Ensemble([load_member(v, f) for v, f in enumerate(members, 1)], WEIGHTS)
    np.testing.assert_allclose(score(ensemble, REVIEWS), expected, atol=1e-6)

    spec = EnsembleSpec(name="two", members=[1, 2], weights=WEIGHTS)
    entries = [artifact.member(v, WEIGHTS[v - 1], f"m{v}", "0" * 64) for v in (1, 2)]
    folder = tmp_path / "ensemble"
    manifest = export_ensemble(
        ensemble, spec, {"test": {"accuracy": 0.5}, artifact.MEMBERS: entries}, folder
    )
    del ensemble
    shutil.rmtree(tmp_path / "store")  # self-contained: the members' folders are gone

    answer = load_with_tensorflow_alone(folder, REVIEWS, tmp_path)
    assert answer["project_modules"] == []
    np.testing.assert_allclose(answer["scores"], expected, atol=1e-5)

    assert verify_checksums(folder) == []
    assert not (folder / artifact.VOCABULARY).exists()  # each member keeps its own inside
    read = artifact.Manifest.read(folder)
    assert read.as_json() == manifest
    assert read.spec == {"kind": "ensemble", "name": "two", "members": [1, 2], "weights": WEIGHTS}
    assert read.vocabulary_size is None
    assert read.metadata[artifact.MEMBERS] == entries
    assert manifest["signature"] == artifact.SIGNATURE_DESCRIPTION


def test_the_fitted_temperature_calibrates_the_exported_ensemble(members, corpus, tmp_path):
    ensemble = Ensemble([load_member(v, f) for v, f in enumerate(members, 1)], WEIGHTS)
    texts, labels = corpus.train.texts[::125], corpus.train.labels[::125]  # 200, both classes
    average = score(ensemble, REVIEWS)
    temperature = fit_ensemble_temperature(ensemble, texts, labels)
    assert temperature != 1.0 and float(ensemble.temperature.numpy()) == pytest.approx(temperature)
    expected = calibrated(average, temperature)
    np.testing.assert_allclose(score(ensemble, REVIEWS), expected, atol=1e-6)

    folder = tmp_path / "calibrated"
    spec = EnsembleSpec(name="two", members=[1, 2], weights=WEIGHTS)
    export_ensemble(ensemble, spec, {"test": {"accuracy": 0.5}}, folder)
    answer = load_with_tensorflow_alone(folder, REVIEWS, tmp_path)
    np.testing.assert_allclose(answer["scores"], expected, atol=1e-5)
    assert [s >= 0.5 for s in answer["scores"]] == [s >= 0.5 for s in average]  # same decisions

    # Too few held-out reviews: no temperature, the plain average again.
    assert fit_ensemble_temperature(ensemble, texts[: MIN_HELD_OUT - 1], labels[:99]) == 1.0
    np.testing.assert_array_equal(score(ensemble, REVIEWS), average)


def test_a_member_that_fails_its_checksums_is_refused(members):
    weights = next((members[0] / "variables").glob("*.data-*"))
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 0xFF
    weights.write_bytes(bytes(content))
    with pytest.raises(MemberLoadError, match="member version 1 failed its checksum check"):
        load_member(1, members[0])
    with pytest.raises(MemberLoadError, match="member version 3 has no readable"):
        load_member(3, members[0].parent / "absent")


def test_evaluation_reports_the_average_s_loss_metrics_and_reliability(members, corpus):
    ensemble = Ensemble([load_member(v, f) for v, f in enumerate(members, 1)], [0.5, 0.5])
    texts, labels = corpus.test.texts[::250], corpus.test.labels[::250]  # 100, both classes
    tested = evaluate(ensemble, texts, labels)
    metrics = tested.metrics
    probabilities = score(ensemble, texts).astype(np.float64)
    assert tested.reliability == reliability(labels, probabilities)
    assert metrics == pytest.approx(
        {
            "loss": float(
                -np.mean(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))
            ),
            **classification_metrics(labels, probabilities),
        }
    )
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_scoring_is_a_stop_point(members):
    ensemble = Ensemble([load_member(v, f) for v, f in enumerate(members, 1)], [0.5, 0.5])
    asked: list[bool] = []

    def cancelled_once_scoring_began() -> bool:  # the phase's start asks first
        asked.append(True)
        return len(asked) > 1

    tracker = Tracker(cancelled_once_scoring_began, check_every=0.0)
    with pytest.raises(TrainingStopped):
        score(ensemble, REVIEWS * 300, tracker)
    reading = tracker.snapshot()
    assert reading is not None and reading.phase == Phase.evaluating
    assert reading.done == SCORE_BATCH  # stopped after the first batch, not the last
