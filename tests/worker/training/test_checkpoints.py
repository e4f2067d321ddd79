"""Checkpoints and resume, in process, on a slice of the real data: a run cut after
any epoch and resumed from its checkpoint ends exactly where an uninterrupted run
ends. (The fault suite does the same across a killed worker process.)"""

import json

import numpy as np
import pytest

from app.registry.store import local_store
from tests.support.specs import tiny_spec
from worker.training.checkpoints import LATEST, STATE, Checkpoints
from worker.training.pipeline import train
from worker.training.records import EpochMetrics


class Killed(Exception):
    """Stands for the worker dying after an epoch was recorded."""


def die_after(epochs: int):
    def on_epoch(metrics: EpochMetrics) -> None:
        if metrics.epoch > epochs:
            raise Killed(metrics.epoch)

    return on_epoch


def weights_equal(first, second) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(
    "spec",
    [
        tiny_spec(architecture="gru", epochs=4, dropout=0.3, recurrent_dropout=0.2),
        tiny_spec(
            architecture="dense",
            epochs=6,
            hidden_layers=[16],
            dropout=0.5,
            optimizer={"name": "adam", "learning_rate": 0.01},
            # Stops after epoch 4 and restores epoch 1's weights: cut after epoch 2,
            # its wait, best value and best weights come from the checkpoint.
            early_stopping={"monitor": "val_loss", "patience": 3},
        ),
    ],
    ids=["gru-dropout", "dense-early-stopping"],
)
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(spec, settings, tmp_path):
    whole = train(spec, settings, checkpoints=Checkpoints(local_store(tmp_path), "whole", spec))

    checkpoints = Checkpoints(local_store(tmp_path), "cut", spec)
    with pytest.raises(Killed):
        train(spec, settings, on_epoch=die_after(2), checkpoints=checkpoints)
    assert checkpoints.epochs_done() == 2
    kept: list[int] = []
    resumed = train(spec, settings, checkpoints=checkpoints, on_resume=kept.append)

    assert kept == [2]
    assert resumed.timings["resumed_after_epoch"] == 2
    assert [vars(e) | {"seconds": 0} for e in resumed.history] == [
        vars(e) | {"seconds": 0} for e in whole.history
    ]
    assert resumed.test_metrics == whole.test_metrics
    assert resumed.diagnosis == whole.diagnosis
    assert weights_equal(resumed.model.get_weights(), whole.model.get_weights())


def test_only_complete_checkpoints_for_the_same_spec_are_read(settings, tmp_path):
    spec = tiny_spec(architecture="dense", epochs=3)
    checkpoints = Checkpoints(local_store(tmp_path), "job", spec)
    with pytest.raises(Killed):
        train(spec, settings, on_epoch=die_after(2), checkpoints=checkpoints)
    # One checkpoint folder, pointed at; no partial folders left behind.
    folder = tmp_path / ".checkpoints" / "job"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch-0002", LATEST]
    assert list((tmp_path / ".staging").iterdir()) == []
    assert checkpoints.epochs_done() == 2
    state = json.loads((folder / "epoch-0002" / STATE).read_text())
    assert [epoch["epoch"] for epoch in state["history"]] == [1, 2]

    other = Checkpoints(local_store(tmp_path), "job", spec.model_copy(update={"seed": 2}))
    assert other.latest() is None and other.epochs_done() == 0
    (folder / LATEST).write_text("epoch-0009")  # points at nothing
    assert checkpoints.latest() is None


def test_a_damaged_checkpoint_means_a_fresh_start(settings, tmp_path):
    spec = tiny_spec(architecture="dense", epochs=2)
    whole = train(spec, settings)
    checkpoints = Checkpoints(local_store(tmp_path), "job", spec)
    with pytest.raises(Killed):
        train(spec, settings, on_epoch=die_after(1), checkpoints=checkpoints)
    weights = tmp_path / ".checkpoints" / "job" / "epoch-0001" / "model.weights.h5"
    weights.write_bytes(b"not an HDF5 file")
    kept: list[int] = []
    again = train(spec, settings, checkpoints=checkpoints, on_resume=kept.append)
    assert kept == [0]
    assert again.test_metrics == whole.test_metrics
