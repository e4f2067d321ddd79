"""docker-compose.yml cannot run here (no Docker engine); check what it promises."""

from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT / "docker-compose.yml").read_text())


def test_the_four_services_each_have_a_health_check():
    services = compose()["services"]
    assert set(services) == {"api", "worker", "redis", "postgres"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"


def test_api_and_worker_share_the_models_store_and_use_postgres_and_redis():
    services = compose()["services"]
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        assert environment["SENTIMENT_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in environment["SENTIMENT_DATABASE_URL"]
        assert environment["SENTIMENT_BROKER_URL"].startswith("redis://redis:6379")
        mounts = {
            volume.split(":")[1]: volume.split(":")[0] for volume in services[name]["volumes"]
        }
        assert mounts[environment["SENTIMENT_MODELS_STORE"]] == "models"
    assert "models" in compose()["volumes"]
    assert services["worker"]["command"][:3] == ["celery", "-A", "worker.celery_app"]
    # The API's processes each listen on a socket of their own (app/server.py).
    assert services["api"]["command"] == ["python", "-m", "app.server"]
    assert services["api"]["environment"]["SENTIMENT_HOST"] == "0.0.0.0"
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_image_runs_the_source_tree_with_its_migrations():
    dockerfile = (PROJECT / "Dockerfile").read_text()
    needed = (
        "COPY app ./app",
        "COPY worker ./worker",
        "COPY migrations ./migrations",
        "alembic.ini",
    )
    for line in needed:
        assert line in dockerfile
