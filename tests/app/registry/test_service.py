"""Registering a version into a bucket: a registration cut mid-upload (its process
killed with SIGKILL, as a worker host dies) leaves no version row and nothing any
host will open; the API on the same database and bucket neither lists nor serves it."""

import os
import shutil
import subprocess
import sys
import time

from app.registry import artifact, store
from tests.support.api import app_settings, running_app
from tests.support.services import PROJECT

REGISTER = """
import sys
from pathlib import Path
from app.core.settings import Settings
from app.registry import store
from tests.support.serving import register_copy
settings = Settings()
register_copy(settings.database_url, store.open_store(settings), Path(sys.argv[1]), 0.9)
"""
PADDING_BYTES = 200 * 1024 * 1024  # sorted after the model's files: the cut falls in it


def test_a_registration_killed_mid_upload_registers_and_serves_nothing(
    s3_settings, s3_server, exported, tmp_path
):
    padded = tmp_path / "padded"
    shutil.copytree(exported, padded)
    with open(padded / "zz-padding.bin", "wb") as padding:
        padding.truncate(PADDING_BYTES)
    settings = app_settings(
        tmp_path,
        models_store=s3_settings.models_store,
        models_cache=tmp_path / "api-cache",
        champion_poll_seconds=0.2,
    )
    models = store.open_store(settings)
    with running_app(settings) as api:  # migrates the database the registration writes
        env = (
            os.environ
            | s3_server.env
            | {
                "SENTIMENT_DATABASE_URL": settings.database_url,
                "SENTIMENT_MODELS_STORE": settings.models_store,
                "SENTIMENT_MODELS_CACHE": str(tmp_path / "worker-cache"),
            }
        )
        registering = subprocess.Popen(
            [sys.executable, "-c", REGISTER, str(padded)], cwd=PROJECT, env=env
        )
        deadline = time.monotonic() + 120
        uploaded: list[str] = []
        while time.monotonic() < deadline and registering.poll() is None:
            uploaded = models.objects.keys(f"{artifact.MODEL_NAME}/")
            if any(key.endswith(artifact.VOCABULARY) for key in uploaded):
                registering.kill()  # the padding is uploading; the manifest is not yet
                break
            time.sleep(0.02)
        assert registering.wait(timeout=30) == -9, "the registration ended before the cut"

        assert uploaded and not any(key.endswith(artifact.MANIFEST) for key in uploaded)
        relative = "/".join(uploaded[0].split("/")[:2])  # imdb-sentiment/<its number>
        assert models.present_versions() == set() and not models.has_version(relative)
        assert api.get("/v1/models").json()["items"] == []
        time.sleep(1)  # the champion watcher polls every 0.2 s: nothing to serve
        answer = api.post("/v1/predict", json={"texts": ["A fine film."]})
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "no_model"
