"""Alembic migrations build the schema the models describe, on SQLite and PostgreSQL."""

import subprocess
import sys
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.auth import models as _auth  # noqa: F401
from app.core.db import Base, build_engine, upgrade_database
from app.jobs import models as _jobs  # noqa: F401  (registers the tables)
from app.registry import models as _registry  # noqa: F401
from tests.support.services import PROJECT, postgres_database


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
            assert context.get_current_revision() == "0008"  # the newest migration
            assert compare_metadata(context, Base.metadata) == []
        assert {"jobs", "epoch_metrics", "model_versions"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_twice_is_harmless(database_url):
    upgrade_database(database_url)
    upgrade_database(database_url)


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
