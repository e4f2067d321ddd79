"""An ensemble job, run: load the member versions, evaluate their weighted average on
the whole test set, export it as one SavedModel and register it."""

import shutil
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.jobs.models import JobStatus
from app.jobs.progress import Phase
from app.registry import artifact, store
from app.registry import repository as versions
from app.specs.spec import EnsembleSpec
from worker.lease import JobRun
from worker.training.tracker import Tracker


@dataclass(frozen=True)
class Member:
    version: int
    weight: float
    name: str
    path: str
    manifest_sha256: str


def ensemble_and_record(run: JobRun, spec: EnsembleSpec, tracker: Tracker) -> JobStatus:
    """Load the members, evaluate their average on the whole test set, export it as
    one SavedModel and register it. It goes through a job's phases (building: loading
    the members, first, so a broken one fails the job at once; reading_data,
    evaluating, exporting, registering), each a stop point, and ends like a trained
    job, without epochs or a diagnosis."""
    from worker.training.data import load_imdb, review_count
    from worker.training.ensemble import Ensemble, evaluate, load_member
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
    loaded = []
    models = store.open_store(settings)
    for count, member in enumerate(members, 1):
        # From a bucket, each member is downloaded (and checked) into this host's cache.
        folder = models.open_version(member.path, keep=[m.path for m in members])
        loaded.append(load_member(member.version, folder))
        tracker.advance(count)
    ensemble = Ensemble(loaded, [member.weight for member in members])
    timings["load_seconds"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    tracker.start(Phase.reading_data, review_count(include_unsup=False), "reviews")
    test = load_imdb(settings.imdb_path, on_read=tracker.advance).test
    timings["read_seconds"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    tested = evaluate(ensemble, test.texts, test.labels, tracker)
    test_metrics = tested.metrics
    timings["evaluate_seconds"] = round(time.perf_counter() - clock, 3)

    tracker.start(Phase.exporting)  # a stop point: a cancel that came after the last batch
    clock = time.perf_counter()
    staged = models.staging_path(job_id)
    shutil.rmtree(staged, ignore_errors=True)  # left over by an interrupted attempt
    metadata = {
        "test": test_metrics,
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
