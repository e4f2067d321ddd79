"""The tracker: phases, counts, rate and time left, and stop points."""

import time

import pytest

from app.jobs.progress import Phase, PhaseProgress, duration
from worker.training.tracker import Tracker, TrainingStopped


def test_a_phase_reports_done_of_total_with_a_rate_and_the_time_left():
    tracker = Tracker()
    assert tracker.snapshot() is None
    tracker.start(Phase.vectorizing, total=1000, unit="reviews")
    time.sleep(0.2)
    tracker.advance(250)
    reading = tracker.snapshot()
    assert reading is not None
    assert (reading.phase, reading.done, reading.total, reading.unit) == (
        Phase.vectorizing, 250, 1000, "reviews",
    )  # fmt: skip
    assert reading.rate is not None and 0 < reading.rate <= 250 / 0.2
    assert reading.eta_seconds == pytest.approx(750 / reading.rate, rel=0.01)
    assert reading.fraction == 0.25
    assert PhaseProgress.from_json(reading.to_json()) == reading
    assert reading.describe().startswith("vectorizing: 250 of 1,000 reviews, ")
    assert reading.describe().endswith(" left")


def test_a_resumed_phase_counts_its_rate_from_where_it_resumed():
    tracker = Tracker()
    tracker.start(Phase.training, total=400, unit="batches", done=200)
    time.sleep(0.1)
    tracker.update(210, epoch=3)
    reading = tracker.snapshot()
    assert reading is not None and reading.epoch == 3
    assert reading.rate is not None and reading.rate <= 10 / 0.1  # 10 batches, not 210


def test_a_phase_without_a_measure_has_no_rate_nor_time_left():
    tracker = Tracker()
    tracker.start(Phase.building)
    reading = tracker.snapshot()
    assert reading is not None
    assert (reading.total, reading.rate, reading.eta_seconds, reading.fraction) == (
        None, None, None, None,
    )  # fmt: skip
    assert reading.describe() == "building and compiling"


def test_each_phase_and_each_advance_is_a_stop_point():
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) >= 2

    tracker = Tracker(should_stop, check_every=0.0)
    tracker.start(Phase.reading_data, total=10, unit="reviews")
    with pytest.raises(TrainingStopped, match="reading_data"):
        tracker.advance(1)
    assert tracker.stopping()  # remembered
    tracker.update(2)  # an update alone never raises


def test_durations_read_naturally():
    assert [duration(s) for s in (4.4, 60, 185, 3600, 7800)] == [
        "4 s", "1 min", "3 min 5 s", "1 h", "2 h 10 min",
    ]  # fmt: skip
