"""An ensemble job, run: load the member versions, calibrate their weighted average on
held-out training reviews, evaluate it on the whole test set, export it as one
SavedModel and register it."""

import shutil
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.jobs.models import JobStatus
from app.jobs.progress import Phase
from app.registry import artifact, store
from app.registry import repository as versions
from app.specs.spec import EnsembleSpec, TrainingSpec
from worker.lease import JobRun
from worker.training.tracker import Tracker

# The most held-out reviews the temperature is fitted on: plenty for one parameter, and
# the job stays about as fast as before when the members fitted on a slice.
CALIBRATION_REVIEWS = 5000


def held_out(train_labels: np.ndarray, member_specs: list[dict[str, Any]]) -> np.ndarray:
    """The training rows none of the members fitted on, by their specs, at most
    CALIBRATION_REVIEWS of them, evenly spaced (both classes alike: the rows run
    positive, then negative). None when a member is not a trained model."""
    from worker.training.pipeline import held_out_rows

    if any(found.get("kind") == "ensemble" for found in member_specs):
        return np.zeros(0, dtype=np.int64)
    specs = [TrainingSpec.model_validate(found) for found in member_specs]
    rows = held_out_rows(train_labels, specs)
    if len(rows) > CALIBRATION_REVIEWS:
        rows = rows[np.linspace(0, len(rows) - 1, CALIBRATION_REVIEWS).astype(np.int64)]
    return rows


@dataclass(frozen=True)
class Member:
    version: int
    weight: float
    name: str
    path: str
    manifest_sha256: str


def ensemble_and_record(run: JobRun, spec: EnsembleSpec, tracker: Tracker) -> JobStatus:
    """Load the members, calibrate their average on the training reviews none of them
    fitted on, evaluate it on the whole test set, export it as one SavedModel and
    register it. It goes through a job's phases (building: loading
    the members, first, so a broken one fails the job at once; reading_data,
    evaluating, exporting, registering), each a stop point, and ends like a trained
    job, without epochs or a diagnosis."""
    from worker.training.data import load_imdb, review_count
    from worker.training.ensemble import (
        Ensemble,
        evaluate,
        fit_ensemble_temperature,
        load_member,
    )
    from worker.training.export import export_ensemble

    settings, job_id = run.settings, run.job_id
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def read_members(session: Session) -> list[Member]:
        found = []
        for version, weight in zip(spec.members, spec.weights, strict=True):
            row = versions.get(session, version)
            if row is None:
                raise ValueError(f"member version {version} is not registered")
            found.append(Member(version, weight, row.name, row.path, row.manifest_sha256))
        return found

    members = run.write(read_members)
    tracker.start(Phase.building, len(members), "models")
    loaded, member_specs = [], []
    models = store.open_store(settings)
    for count, member in enumerate(members, 1):
        # From a bucket, each member is downloaded (and checked) into this host's cache.
        folder = models.open_version(member.path, keep=[m.path for m in members])
        loaded.append(load_member(member.version, folder))
        member_specs.append(artifact.Manifest.read(folder).spec)
        tracker.advance(count)
    ensemble = Ensemble(loaded, [member.weight for member in members])
    timings["load_seconds"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    tracker.start(Phase.reading_data, review_count(include_unsup=False), "reviews")
    corpus = load_imdb(settings.imdb_path, on_read=tracker.advance)
    timings["read_seconds"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    held = held_out(corpus.train.labels, member_specs)
    temperature = fit_ensemble_temperature(
        ensemble, [corpus.train.texts[row] for row in held], corpus.train.labels[held], tracker
    )
    timings["calibrate_seconds"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    test = corpus.test
    tested = evaluate(ensemble, test.texts, test.labels, tracker)
    test_metrics = tested.metrics
    timings["evaluate_seconds"] = round(time.perf_counter() - clock, 3)

    tracker.start(Phase.exporting)  # a stop point: a cancel that came after the last batch
    clock = time.perf_counter()
    staged = models.staging_path(job_id)
    shutil.rmtree(staged, ignore_errors=True)  # left over by an interrupted attempt
    metadata = {
        "test": test_metrics,
        "temperature": temperature,
        "held_out_reviews": len(held),
        artifact.MEMBERS: [
            artifact.member(m.version, m.weight, m.name, m.manifest_sha256) for m in members
        ],
        "job_id": job_id,
    }
    export_ensemble(ensemble, spec, metadata, staged)
    timings["export_seconds"] = round(time.perf_counter() - clock, 3)
    tracker.start(Phase.registering)
    weighted = [{"version": m.version, "weight": m.weight} for m in members]
    return run.register(
        spec.name,
        staged,
        test_metrics,
        members=weighted,
        timings=timings,
        reliability=tested.reliability,
    )
