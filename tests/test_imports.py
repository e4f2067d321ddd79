"""The layout's boundaries, checked: what each part may load when it is imported.

- ``app.core`` is the base everything shares: no web framework, no TensorFlow.
- The worker runs jobs with the domain code, never the HTTP layer.
- The API starts without TensorFlow, and the Celery parent (which forks a child per
  job) never imports it: each child imports it once, for its job.
"""

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
WEB = {"fastapi", "starlette"}
TENSORFLOW = {"tensorflow", "keras"}


def modules_after_importing(*names: str) -> set[str]:
    code = f"import sys; import {', '.join(names)}; print(' '.join(sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return set(completed.stdout.split())


def test_the_core_loads_no_web_framework_nor_tensorflow():
    core = [path.stem for path in (PROJECT / "app" / "core").glob("*.py") if path.stem[0] != "_"]
    loaded = modules_after_importing("app.core", *(f"app.core.{name}" for name in core))
    assert {"app.core.db", "app.core.errors", "app.core.settings"} <= loaded
    assert not (WEB | TENSORFLOW) & loaded


def test_the_worker_runner_loads_no_web_framework():
    loaded = modules_after_importing("worker.runner")
    assert "app.registry.service" in loaded  # it registers models through the domain code
    assert not WEB & loaded


def test_the_api_starts_without_tensorflow():
    loaded = modules_after_importing("app.main")
    assert "fastapi" in loaded
    assert not TENSORFLOW & loaded


def test_the_worker_parent_never_imports_tensorflow():
    # Children fork from it; TensorFlow is imported in each child, once, for its job.
    loaded = modules_after_importing("worker.celery_app", "worker.tasks")
    assert "worker.tasks" in loaded
    assert not TENSORFLOW & loaded


def test_the_embedding_explorer_finds_word2vec_vectors_without_tensorflow():
    loaded = modules_after_importing("app.embeddings.service", "worker.training.word2vec_cache")
    assert not TENSORFLOW & loaded
