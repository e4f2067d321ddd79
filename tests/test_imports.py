"""TensorFlow stays out of the API's start-up and the Celery parent process."""

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def modules_after_importing(*names: str) -> set[str]:
    code = f"import sys; import {', '.join(names)}; print(' '.join(sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return set(completed.stdout.split())


def test_the_api_starts_without_tensorflow():
    assert "tensorflow" not in modules_after_importing("app.main")


def test_the_worker_parent_never_imports_tensorflow():
    # Children fork from it; TensorFlow is imported in each child, once, for its job.
    loaded = modules_after_importing("worker.celery_app", "worker.tasks")
    assert "tensorflow" not in loaded
    assert "worker.tasks" in loaded
