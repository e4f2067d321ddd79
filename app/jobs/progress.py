"""The progress format the worker writes to ``jobs.progress`` and the API reads back.

It is its own module because both sides share it: the worker's tracker
(``worker/training/tracker.py``) fills it in memory, its job watch
(``worker/lease.py``) writes it when it moved, and the API shows it. No web
framework and no TensorFlow, so the worker's parent process can import it.
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    """A job's phases, in the order a run goes through them (some are skipped:
    word vectors only with ``imdb-word2vec``, reading and vectorizing only when
    the text cache does not have the arrays yet)."""

    reading_data = "reading_data"
    vectorizing = "vectorizing"
    training_word_vectors = "training_word_vectors"
    building = "building"
    training = "training"
    evaluating = "evaluating"
    explaining = "explaining"  # the drivers: test reviews explained (worker/training/explain.py)
    exporting = "exporting"
    registering = "registering"


PHASE_NAMES = {
    Phase.reading_data: "reading the data",
    Phase.vectorizing: "vectorizing",
    Phase.training_word_vectors: "training word vectors",
    Phase.building: "building and compiling",
    Phase.training: "training",
    Phase.evaluating: "evaluating",
    Phase.explaining: "explaining",
    Phase.exporting: "exporting",
    Phase.registering: "registering",
}


@dataclass(frozen=True)
class PhaseProgress:
    """One reading of a job's progress. ``done`` and ``total`` count ``unit``s
    (reviews, batches, sentences); a phase without a measure has no total.
    ``rate`` is units per second since the phase started (or resumed)."""

    phase: Phase
    done: int
    total: int | None
    unit: str | None
    rate: float | None
    eta_seconds: float | None
    epoch: int | None  # the epoch under way, while training
    phase_started_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["phase"] = str(self.phase)
        values["phase_started_at"] = self.phase_started_at.isoformat()
        values["updated_at"] = self.updated_at.isoformat()
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "PhaseProgress":
        return cls(
            phase=Phase(values["phase"]),
            done=int(values["done"]),
            total=values.get("total"),
            unit=values.get("unit"),
            rate=values.get("rate"),
            eta_seconds=values.get("eta_seconds"),
            epoch=values.get("epoch"),
            phase_started_at=datetime.fromisoformat(values["phase_started_at"]),
            updated_at=datetime.fromisoformat(values["updated_at"]),
        )

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    def describe(self) -> str:
        """'training: 1,210 of 3,750 batches, 41.0/s, about 1 min 2 s left'."""
        text = PHASE_NAMES[self.phase]
        if self.total:
            text += f": {self.done:,} of {self.total:,} {self.unit or ''}".rstrip()
        elif self.done:
            text += f": {self.done:,} {self.unit or ''}".rstrip()
        if self.rate:
            text += f", {self.rate:,.1f}/s"
        if self.eta_seconds is not None:
            text += f", about {duration(self.eta_seconds)} left"
        return text


def duration(seconds: float) -> str:
    """'45 s', '3 min 5 s', '2 h 10 min'."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
