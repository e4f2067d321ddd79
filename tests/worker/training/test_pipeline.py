from pathlib import Path

import numpy as np
import pytest

from app.jobs.progress import Phase
from tests.support.specs import NB_TRIGRAM_BAG, ece_of_diagram, tiny_spec
from worker.training.data import ImdbSplit, id_runs
from worker.training.pipeline import (
    HELD_OUT_BLOCK,
    held_out_rows,
    split_data,
    split_rows,
    train,
)
from worker.training.records import EpochMetrics
from worker.training.text import VectorizedImdb, load_vectorized
from worker.training.tracker import Tracker, TrainingStopped


def test_the_same_spec_and_seed_give_the_same_metrics(settings):
    spec = tiny_spec(architecture="gru", epochs=2, dropout=0.2)
    first, second = train(spec, settings), train(spec, settings)
    assert [vars(e) | {"seconds": 0} for e in first.history] == [
        vars(e) | {"seconds": 0} for e in second.history
    ]
    assert first.test_metrics == second.test_metrics
    other_seed = train(spec.model_copy(update={"seed": 7}), settings)
    assert other_seed.test_metrics != first.test_metrics


def test_every_finished_epoch_is_reported_in_order(settings):
    seen: list[EpochMetrics] = []
    result = train(tiny_spec(architecture="dense", epochs=3), settings, on_epoch=seen.append)
    assert [epoch.epoch for epoch in seen] == [1, 2, 3]
    assert seen == result.history
    assert all(epoch.seconds > 0 for epoch in seen)
    assert result.diagnosis is not None
    assert result.timings["text_from_cache"] in (0.0, 1.0)
    assert (
        0
        < result.timings["seconds_to_first_epoch"]
        <= result.timings["prepare_seconds"] + result.timings["train_seconds"]
    )


def test_a_stop_request_ends_training_between_batches(settings):
    def should_stop():
        # Once some batches of the first epoch are done.
        reading = tracker.snapshot()
        return reading is not None and reading.phase == Phase.training and reading.done > 0

    tracker = Tracker(should_stop)
    spec = tiny_spec(architecture="lstm", epochs=50, train_size=2000, batch_size=16)
    result = train(spec, settings, tracker=tracker)
    assert result.cancelled
    assert len(result.history) < 50
    assert result.test_metrics is None and result.diagnosis is None


def test_a_stop_request_while_preparing_ends_before_any_training(settings):
    checks = []

    def should_stop():
        checks.append(1)
        return True  # asked at the first step: load nothing, build nothing

    with pytest.raises(TrainingStopped):
        train(tiny_spec(), settings, tracker=Tracker(should_stop))
    assert checks == [1]


def test_early_stopping_restores_the_best_epoch(settings):
    spec = tiny_spec(
        architecture="dense",
        epochs=30,
        hidden_layers=[64],
        optimizer={"name": "adam", "learning_rate": 0.01},
        early_stopping={"monitor": "val_loss", "patience": 1},
    )
    result = train(spec, settings)
    assert len(result.history) < 30
    best = min(result.history, key=lambda e: e.val_loss)
    assert best.epoch == len(result.history) - 1  # stopped one epoch (the patience) after the best
    last = result.history[-1]
    assert last.val_loss > best.val_loss * 1.01  # the last epoch's weights are told apart

    # The model handed back is the best epoch's: on the same validation rows it scores
    # that epoch's validation loss and accuracy, not the last epoch's.
    splits = split_data(
        load_vectorized(spec.sequence, settings.imdb_path, settings.cache_dir), spec
    )
    loss, accuracy = result.model.evaluate(
        splits.x_val, splits.y_val, batch_size=spec.batch_size, verbose=0
    )
    assert loss == pytest.approx(best.val_loss, rel=1e-4)
    assert accuracy == pytest.approx(best.val_accuracy, abs=1e-6)


def test_slices_are_balanced_and_validation_is_held_out(settings):
    spec = tiny_spec(train_size=500, test_size=400, validation_split=0.2)
    data = load_vectorized(spec.sequence, settings.imdb_path, settings.cache_dir)
    splits = split_data(data, spec)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (400, 100, 400)
    assert splits.y_train.mean() + splits.y_val.mean() == pytest.approx(1.0, abs=0.15)
    assert (
        0.35 < splits.y_val.mean() < 0.65
    )  # both classes in validation, unlike Keras's tail split
    assert splits.y_test.mean() == 0.5


def test_holding_out_movies_holds_out_whole_blocks_of_ids_of_each_class(settings):
    spec = tiny_spec(train_size=None, validation_split=0.2, validation_holds_out="movies")
    data = load_vectorized(spec.sequence, settings.imdb_path, settings.cache_dir)
    fit, val, _ = split_rows(data, spec)
    blocks = id_runs(data.y_train, HELD_OUT_BLOCK)
    assert not set(blocks[fit].tolist()) & set(blocks[val].tolist())
    assert len(fit) + len(val) == 25_000
    for label in (0, 1):  # each class's half of the share, to the block that reaches it
        assert 2_500 <= np.count_nonzero(data.y_train[val] == label) < 2_500 + HELD_OUT_BLOCK
    # Another seed holds out other blocks; by reviews, every block is on both sides.
    other, _, _ = split_rows(data, spec.model_copy(update={"seed": 7}))
    assert set(blocks[other].tolist()) != set(blocks[fit].tolist())
    fit, val, _ = split_rows(data, spec.model_copy(update={"validation_holds_out": "reviews"}))
    assert set(blocks[val].tolist()) <= set(blocks[fit].tolist())


def test_the_full_test_set_is_the_default(settings):
    result = train(tiny_spec(architecture="dense", test_size=None, train_size=200), settings)
    assert result.sizes["test"] == 25_000
    metrics = result.test_metrics
    assert metrics is not None
    assert 0.0 <= metrics["roc_auc"] <= 1.0 and np.isfinite(metrics["loss"])
    # The reliability diagram counts every test prediction once, and its ECE is the metric.
    assert result.reliability is not None
    assert sum(b["count"] for b in result.reliability) == 25_000
    assert metrics["ece"] == pytest.approx(ece_of_diagram(result.reliability), abs=1e-12)


def write_dataset(root: Path, train: ImdbSplit, test: ImdbSplit) -> Path:
    """An IMDB folder in the official layout holding these splits, each review numbered by
    its place so the reader keeps their order."""
    for group, split in (("train", train), ("test", test)):
        for label, name in ((1, "pos"), (0, "neg")):
            folder = root / "aclImdb" / group / name
            folder.mkdir(parents=True)
            rows = np.flatnonzero(split.labels == label)
            for number, row in enumerate(rows):
                path = folder / f"{number}_{split.ratings[row]}.txt"
                path.write_text(split.texts[row], encoding="utf-8")
    return root


def test_the_test_split_s_texts_and_labels_change_nothing_that_is_learned(
    corpus, settings, tmp_path
):
    """Vocabulary, NB ratios, embeddings and every other weight, and the temperature, come
    from the training split alone: a copy of IMDB whose test reviews are rewritten (new
    words, reversed) and relabelled (positive as negative) trains the same model, and only
    the test metrics move."""
    test = corpus.test
    # A word in every test review: it would be among the most frequent, were they counted.
    rewritten = ["zzunseen " + " ".join(text.split()[::-1]) for text in test.texts]
    tampered = ImdbSplit(texts=rewritten, labels=1 - test.labels, ratings=11 - test.ratings)
    # With `best`'s filter of n-grams held in too few movies, whose counts must not read
    # the test split either.
    bag = NB_TRIGRAM_BAG | {"sequence": NB_TRIGRAM_BAG["sequence"] | {"min_movies": 2}}
    spec = tiny_spec(**bag, train_size=2000, test_size=None, epochs=2)
    faithful, changed = (
        train(spec, settings.model_copy(update={"imdb_path": dataset}))
        for dataset in (
            write_dataset(tmp_path / "faithful", corpus.train, test),
            write_dataset(tmp_path / "tampered", corpus.train, tampered),
        )
    )
    assert changed.vocabulary == faithful.vocabulary
    assert not any("zzunseen" in term for term in changed.vocabulary)
    assert changed.temperature == faithful.temperature != 1.0
    weights = {w.path: w.numpy() for w in faithful.model.weights}
    ratios = faithful.model.get_layer("embedding").ratios.numpy()
    assert 1000 < np.count_nonzero(ratios) < len(ratios) - 1000  # NB ratios, some filtered
    for weight in changed.model.weights:
        np.testing.assert_array_equal(weight.numpy(), weights[weight.path], err_msg=weight.path)
    # Yet the test split was read: the flipped labels turn its accuracy around.
    assert faithful.test_metrics is not None and changed.test_metrics is not None
    assert changed.test_metrics["accuracy"] != faithful.test_metrics["accuracy"]
    assert changed.sizes == faithful.sizes == {"train": 1600, "validation": 400, "test": 25_000}


def test_a_run_that_chooses_on_validation_never_scores_the_test_split(settings):
    result = train(tiny_spec(architecture="dense", epochs=2), settings, score_test=False)
    assert result.test_metrics is None and result.reliability is None
    assert "evaluate_seconds" not in result.timings
    assert [e.epoch for e in result.history] == [1, 2]  # the validation curve it chooses by
    assert result.diagnosis is not None and result.temperature > 0


def test_the_rows_an_ensemble_calibrates_on_are_those_no_member_fitted_on():
    labels = np.repeat(np.array([1, 0], dtype=np.int8), 12_500)
    whole = tiny_spec(train_size=None, validation_split=0.05)
    no_text = np.zeros((len(labels), 1), dtype=np.int32)  # only the labels decide the rows
    data = VectorizedImdb(no_text, labels, no_text, labels, vocabulary=[], from_cache=False)
    fit, val, _ = split_rows(data, whole)
    # Members on the same split: exactly their validation rows, both classes alike.
    both = held_out_rows(labels, [whole, whole.model_copy(update={"architecture": "gru"})])
    np.testing.assert_array_equal(both, np.sort(val))
    assert len(both) == 1250 and labels[both].mean() == pytest.approx(0.5, abs=0.05)
    # A member on a slice leaves the rest unfitted; another seed fits other rows.
    sliced = tiny_spec(train_size=300)
    sliced_fit, _, _ = split_rows(data, sliced)
    assert len(held_out_rows(labels, [sliced])) == 25_000 - len(sliced_fit)
    reseeded = whole.model_copy(update={"seed": 7})
    fitted_by_either = set(fit) | set(split_rows(data, reseeded)[0])
    assert set(held_out_rows(labels, [whole, reseeded])) == set(range(25_000)) - fitted_by_either
