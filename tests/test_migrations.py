"""Alembic migrations build the schema the models describe, on SQLite and PostgreSQL."""

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select

from app.auth import models as _auth  # noqa: F401
from app.core.db import Base, Database, build_engine, upgrade_database
from app.jobs import lifecycle
from app.jobs import models as _jobs  # noqa: F401  (registers the tables)
from app.jobs.models import Job
from app.registry import models as _registry  # noqa: F401
from tests.support.services import PROJECT, postgres_database

NEWEST = "0010"  # the newest migration's revision


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrated.sqlite"
        return
    with postgres_database() as url:
        yield url


def test_upgrade_head_matches_the_models(database_url):
    upgrade_database(database_url)
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == NEWEST
            assert compare_metadata(context, Base.metadata) == []
        assert {"jobs", "epoch_metrics", "model_versions"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema(engine: Engine) -> dict[str, Any]:
    """What the second upgrade must leave alone: the revision and every table's columns
    (name, type, nullability, default), primary key, foreign keys, indexes."""
    inspector = inspect(engine)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    tables = {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (fk["referred_table"], tuple(fk["constrained_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (str(index["name"]), tuple(map(str, index["column_names"])), bool(index["unique"]))
                for index in inspector.get_indexes(table)
            ),
        }
        for table in inspector.get_table_names()
    }
    return {"revision": revision, "tables": tables}


def test_upgrade_twice_is_harmless(database_url):
    upgrade_database(database_url)
    database = Database(database_url)
    try:
        with database.session_scope() as session:
            job = lifecycle.new_job(name="kept", spec={"epochs": 1}, epochs_total=1)
            session.add(job)
            session.flush()
            job_id = job.id
        before = schema(database.engine)
        assert before["revision"] == NEWEST and "jobs" in before["tables"]

        upgrade_database(database_url)

        assert schema(database.engine) == before
        with database.session_scope() as session:
            rows = session.scalars(select(Job)).all()
            assert [(row.id, row.name, row.spec) for row in rows] == [
                (job_id, "kept", {"epochs": 1})
            ]
    finally:
        database.dispose()


def test_processes_starting_together_migrate_one_at_a_time():
    """Several API processes run `upgrade head` at start-up; on PostgreSQL a lock
    serializes them, so none fails on a table another has just created."""
    code = "import sys; from app.core.db import upgrade_database; upgrade_database(sys.argv[1])"
    with postgres_database() as url:
        processes = [
            subprocess.Popen([sys.executable, "-c", code, url], cwd=PROJECT, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr.decode()[-2000:]
