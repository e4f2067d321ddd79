"""Resumable training: what a run saves after every finished epoch, and reads back.

A job's checkpoints live in the models store (``.checkpoints/<job id>/``, see
``app/registry/store.py``), so a job whose host died resumes on another host when
the store is a bucket. After each finished epoch the run writes a complete folder on
this host, puts it in the store as ``epoch-NNNN/`` (its ``state.json`` last), then
points ``latest`` at it, and removes the older ones; a reader follows ``latest``
and therefore sees a whole checkpoint or the previous one, never half of one. A
checkpoint holds everything that decides the epochs still to come, so a resumed run
ends exactly where the uninterrupted run would:

- the model's weights and the optimizer's state (its step count and moments);
- the random state: each dropout layer's seed generator (the per-epoch shuffle
  is drawn from the spec's seed and the epoch number, so it needs no state);
- early stopping's state (its wait, best value and best epoch's weights);
- the finished epochs' metrics, for the diagnosis at the end.

What is not resumable: an epoch interrupted midway restarts from its beginning,
and the phases before training (data, word vectors, compiling) run again, from
their caches when those were finished. A checkpoint written for another spec or
format is ignored.
"""

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.registry.objects import ObjectMissing
from app.registry.store import ModelStore, scratch_folder
from app.specs.spec import TrainingSpec
from worker.training.records import EarlyStoppingState, EpochMetrics, Resumed

logger = logging.getLogger(__name__)

FORMAT = 1
LATEST = "latest"
STATE = "state.json"
WEIGHTS = "model.weights.h5"  # the model's and its optimizer's variables
RANDOM = "random.npz"
BEST = "best-weights.npz"


def fingerprint(spec: TrainingSpec) -> str:
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(f"{FORMAT}|{text}".encode()).hexdigest()


def seed_variables(model: Any) -> list[Any]:
    """The model's random state: each seeded layer's generator state."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class Checkpoints:
    def __init__(self, models: ModelStore, job_id: str, spec: TrainingSpec) -> None:
        self.models = models
        self.prefix = models.checkpoint_prefix(job_id)
        self.fingerprint = fingerprint(spec)

    @property
    def where(self) -> str:
        return f"{self.models.description}/{self.prefix}"

    def latest(self) -> str | None:
        """The name of the newest complete checkpoint written for this spec, if any."""
        found = self._latest()
        return found[0] if found else None

    def epochs_done(self) -> int:
        """The epochs the newest checkpoint has behind it (0 without one)."""
        found = self._latest()
        return int(found[1]["epoch"]) if found else 0

    def _latest(self) -> tuple[str, dict[str, Any]] | None:
        """The newest complete checkpoint for this spec and its state."""
        objects = self.models.objects
        try:
            name = objects.get_bytes(self.prefix + LATEST).decode().strip()
            state = json.loads(objects.get_bytes(f"{self.prefix}{name}/{STATE}"))
        except (ObjectMissing, ValueError):
            return None
        if state.get("fingerprint") != self.fingerprint:
            logger.warning("ignoring checkpoint %s: written for another spec or format", name)
            return None
        return name, state

    def save(
        self,
        model: Any,
        epoch: int,
        history: list[EpochMetrics],
        early_stopping: EarlyStoppingState | None,
        best_weights: list[np.ndarray] | None,
    ) -> int:
        """Write the checkpoint after ``epoch`` (1-based); returns its size in bytes."""
        name = f"epoch-{epoch:04d}"
        with scratch_folder(self.models.scratch, "checkpoint") as partial:
            model.save_weights(partial / WEIGHTS)
            np.savez(partial / RANDOM, *[v.numpy() for v in seed_variables(model)])
            if best_weights is not None:
                np.savez(partial / BEST, *best_weights)
            state = {
                "format": FORMAT,
                "fingerprint": self.fingerprint,
                "epoch": epoch,
                "history": [vars(metrics) for metrics in history],
                "early_stopping": vars(early_stopping) if early_stopping else None,
            }
            (partial / STATE).write_text(json.dumps(state))
            size = folder_bytes(partial)
            objects = self.models.objects
            objects.put_tree(partial, self.prefix + name, last=STATE)
        objects.put_bytes(self.prefix + LATEST, name.encode())  # the pointer, last
        for older in objects.children(self.prefix):
            if older.startswith("epoch-") and older != name:
                objects.delete_prefix(f"{self.prefix}{older}/")
        return size

    def restore(self, model: Any) -> Resumed | None:
        """Load the newest checkpoint into ``model`` (compiled, not yet trained)."""
        found = self._latest()
        if found is None:
            return None
        name, state = found
        with self.models.local_copy(self.prefix + name) as latest:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(latest / WEIGHTS)
            with np.load(latest / RANDOM) as saved:
                for index, variable in enumerate(seed_variables(model)):
                    variable.assign(saved[f"arr_{index}"])
            best_weights = None
            if (latest / BEST).is_file():
                with np.load(latest / BEST) as saved:
                    best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        stopping = state.get("early_stopping")
        return Resumed(
            epochs_done=int(state["epoch"]),
            history=[EpochMetrics(**metrics) for metrics in state["history"]],
            early_stopping=EarlyStoppingState(**stopping) if stopping else None,
            best_weights=best_weights,
        )

    def clear(self) -> None:
        self.models.objects.delete_prefix(self.prefix)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())
