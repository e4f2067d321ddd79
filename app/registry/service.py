"""The model registry: register complete artifacts, pin aliases, pick the champion.

Functions answer rows and domain objects and raise domain errors; the router shapes
the answers (``ModelVersionOut.of``).
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.auth.keys import Principal
from app.core.errors import ErrorCode, FieldDetail, ModelNotFound, NotFound, invalid_fields
from app.core.settings import Settings
from app.core.types import utcnow
from app.jobs import service as jobs
from app.registry import artifact, repository, store
from app.registry.models import ModelAlias, ModelVersion
from app.registry.store import ModelStore
from app.specs.spec import MAX_ENSEMBLE_MEMBERS, EnsembleSpec

Reason = Literal["pinned", "best test accuracy"]


@dataclass(frozen=True)
class Champion:
    version: int
    reason: Reason


@dataclass(frozen=True)
class VersionDetails:
    row: ModelVersion
    aliases: list[str]
    present: bool  # its artifact is in the models store
    champion: bool
    shows_job: bool  # the caller may see the job that trained it (its owner, or an admin)


def register(
    session: Session,
    job_id: str,
    name: str,
    staged: Path,
    metrics: dict[str, Any],
    models: ModelStore,
    members: list[dict[str, Any]] | None = None,
) -> ModelVersion:
    """Give a complete export its version number and publish it in the store.

    The row is flushed first (for its number), then the version is published (its
    manifest last); the caller's commit, after that, makes the row visible: no row
    names a version whose upload did not finish. A job registers at most one version.
    ``members`` (``[{"version", "weight"}]``) makes it an ensemble's.
    """
    existing = repository.for_job(session, job_id)
    if existing is not None:
        shutil.rmtree(staged, ignore_errors=True)
        return existing
    row = ModelVersion(
        job_id=job_id,
        name=name,
        path="",
        test_accuracy=float(metrics["accuracy"]),
        metrics=metrics,
        manifest_sha256=artifact.sha256_of(staged / artifact.MANIFEST),
        members=members,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    row.path = models.publish(staged, row.version)
    session.flush()
    return row


def create_ensemble(
    session: Session,
    name: str,
    members: list[int],
    weights: list[float] | None,
    owner: Principal,
    idempotency_key: str | None,
    send: jobs.Send,
    settings: Settings,
) -> jobs.Submission:
    """Submit a job that averages ``members``' probabilities with ``weights`` (None:
    equal), scaled to sum to 1. Each member must be a registered version whose
    artifact is in the store (422 naming each one that is not); the worker verifies
    their checksums when it loads them, and fails the job if one does not load.

    A member that is itself an ensemble is replaced by its leaves (``leaves_of``): the
    job averages trained models only, as many as one ensemble may have at most (422
    naming the count otherwise), with the weights the tree gives them (an average of
    averages is an average), then calibrated by a temperature of its own: an inner
    ensemble's temperature does not carry over."""
    models = store.open_store(settings, patient=False)
    problems: list[FieldDetail] = []
    rows: list[ModelVersion] = []
    for index, version in enumerate(members):
        row = repository.get(session, version)
        if row is None:
            message = f"no model version {version} is registered"
        elif not models.has_version(row.path):
            message = f"model version {version}'s artifact is missing from the models store"
        else:
            rows.append(row)
            continue
        problems.append({"field": f"members.{index}", "message": message, "received": version})
    if problems:
        raise invalid_fields(ErrorCode.INVALID_ENSEMBLE, "The ensemble cannot be made", problems)
    given = EnsembleSpec.of(name, members, weights)  # the body's model checked the rule
    leaves = leaves_of(session, rows, given.weights)
    if len(leaves) > MAX_ENSEMBLE_MEMBERS:
        raise invalid_fields(
            ErrorCode.INVALID_ENSEMBLE,
            f"The ensemble's tree has {len(leaves)} trained models at its leaves (the members "
            f"of its members that are ensembles, each counted once); at most "
            f"{MAX_ENSEMBLE_MEMBERS} are averaged, as each runs on every text",
            [{"field": "members", "message": f"{len(leaves)} leaves", "received": members}],
        )
    spec = EnsembleSpec.of(name, list(leaves), list(leaves.values()))
    return jobs.submit_spec(session, spec, owner, idempotency_key, send, settings)


def leaves_of(session: Session, rows: list[ModelVersion], weights: list[float]) -> dict[int, float]:
    """The trained models under these versions, each with its share of the average: an
    ensemble's members take its weight times theirs, and a model reached along several
    branches gets the sum of its shares. Members precede their ensembles in the
    registry, so the walk ends."""
    leaves: dict[int, float] = {}
    pending = list(zip(rows, weights, strict=True))
    while pending:
        row, weight = pending.pop(0)
        if not row.members:
            leaves[row.version] = leaves.get(row.version, 0.0) + weight
            continue
        for member in row.members:
            inner = repository.get(session, int(member["version"]))
            if inner is None:  # a registered ensemble's member is registered too
                raise ModelNotFound(int(member["version"]))
            pending.append((inner, weight * float(member["weight"])))
    return leaves


def champion(session: Session) -> Champion | None:
    found = repository.champion(session)
    if found is None:
        return None
    row, pinned = found
    return Champion(version=row.version, reason="pinned" if pinned else "best test accuracy")


def list_versions(
    session: Session, models: ModelStore, caller: Principal
) -> tuple[list[VersionDetails], Champion | None]:
    rows, current = list(repository.all_versions(session)), champion(session)
    return _details_of(session, rows, models.present_versions(), caller, current), current


def get_version(
    session: Session, version: int, models: ModelStore, caller: Principal
) -> VersionDetails:
    row = existing_version(session, version)
    present = {row.path} if models.has_version(row.path) else set()
    return _details_of(session, [row], present, caller, champion(session))[0]


def _details_of(
    session: Session,
    rows: list[ModelVersion],
    present: set[str],
    caller: Principal,
    current: Champion | None,
) -> list[VersionDetails]:
    """Every model serves everyone, but which job (and so whose) made it is the owner's."""
    names: dict[int, list[str]] = {}
    for alias in repository.aliases(session):
        names.setdefault(alias.version, []).append(alias.alias)
    owners = repository.job_owners(session, [row.job_id for row in rows])
    return [
        VersionDetails(
            row,
            names.get(row.version, []),
            present=row.path in present,
            champion=current is not None and current.version == row.version,
            shows_job=caller.may_see(owners.get(row.job_id)),
        )
        for row in rows
    ]


def pin(session: Session, alias: str, version: int) -> ModelAlias:
    existing_version(session, version)
    row = repository.get_alias(session, alias)
    if row is None:
        row = ModelAlias(alias=alias, version=version, updated_at=utcnow())
        session.add(row)
    else:
        row.version, row.updated_at = version, utcnow()
    session.flush()
    return row


def unpin(session: Session, alias: str) -> None:
    row = repository.get_alias(session, alias)
    if row is None:
        raise NotFound(ErrorCode.ALIAS_NOT_FOUND, f"No alias {alias!r} is set.")
    session.delete(row)
    session.flush()


def existing_version(session: Session, version: int) -> ModelVersion:
    row = repository.get(session, version)
    if row is None:
        raise ModelNotFound(version)
    return row
