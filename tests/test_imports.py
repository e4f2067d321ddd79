"""The layout's boundaries, checked: what each part may load, and which way imports point.

- ``app.core`` is the base everything shares: no web framework, no TensorFlow, and
  nothing of the app's other packages.
- ``app.http`` is the HTTP edge: it imports the core and nothing else of the app.
- No two packages import each other, and no two modules do (an import under
  ``TYPE_CHECKING`` counts: a circle of types is still a circle).
- The worker runs jobs with the domain code, never the HTTP layer.
- The API starts without TensorFlow, and the Celery parent (which forks a child per
  job) never imports it: each child imports it once, for its job.
- Test modules share builders through ``tests/support/`` only, never each other.
"""

import re

from tests.support.imports import (
    TENSORFLOW,
    WEB,
    cycles,
    module_name,
    modules_after_importing,
    package_imports,
    package_of,
    written_imports,
)
from tests.support.services import PROJECT

WRITTEN = written_imports()


def test_the_core_loads_no_web_framework_nor_tensorflow():
    core = [path.stem for path in (PROJECT / "app" / "core").glob("*.py") if path.stem[0] != "_"]
    loaded = modules_after_importing("app.core", *(f"app.core.{name}" for name in core))
    assert {"app.core.db", "app.core.errors", "app.core.settings"} <= loaded
    assert not (WEB | TENSORFLOW) & loaded


def test_the_core_imports_nothing_else_of_the_project():
    reaching = {
        module: sorted(other for other in imported if package_of(other) != "app.core")
        for module, imported in WRITTEN.items()
        if package_of(module) == "app.core"
    }
    assert {module: found for module, found in reaching.items() if found} == {}


def test_the_http_edge_imports_only_the_core():
    reaching = {
        module: sorted(
            other for other in imported if package_of(other) not in {"app.core", "app.http"}
        )
        for module, imported in WRITTEN.items()
        if package_of(module) == "app.http"
    }
    assert {module: found for module, found in reaching.items() if found} == {}


def test_no_two_packages_import_each_other():
    assert cycles(package_imports(WRITTEN)) == []


def test_no_two_modules_import_each_other():
    assert cycles(WRITTEN) == []


def test_the_checks_see_a_cycle_and_a_reach_back(tmp_path):
    # The same checks on a small tree with both faults: they must not pass by accident.
    for name, text in {
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/db.py": "from app.jobs import models\n",  # the core reaching back
        "app/jobs/__init__.py": "",
        "app/jobs/models.py": "from app.core import db\n",
        "app/jobs/service.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from app.sweeps.service import Sweep\n",
        "app/sweeps/__init__.py": "",
        "app/sweeps/service.py": "from app.jobs import service\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    written = written_imports(tmp_path, ["app"])
    assert written["app.core.db"] == {"app.jobs.models"}
    assert cycles(written) == [
        ["app.core.db", "app.jobs.models"],
        ["app.jobs.service", "app.sweeps.service"],
    ]
    packages = {"app.core": {"app.jobs"}, "app.jobs": {"app.core", "app.sweeps"}}
    assert cycles(packages) == [["app.core", "app.jobs"]]


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


def test_no_test_module_imports_another():
    tests = written_imports(PROJECT, ["tests"])
    shared = {
        module: sorted(
            other
            for other in imported
            if other.startswith("tests.") and not other.startswith("tests.support")
        )
        for module, imported in tests.items()
        if not module.startswith("tests.support")
    }
    assert {module: found for module, found in shared.items() if found} == {}


def test_tests_mirror_the_source():
    """``tests/app/jobs/test_lifecycle.py`` tests ``app/jobs/lifecycle.py``: each test
    folder under ``tests/app`` and ``tests/worker`` is a package of the source."""
    for top in ("app", "worker", "client"):
        for folder in (PROJECT / "tests" / top).rglob("*"):
            if folder.is_dir() and folder.name != "__pycache__":
                source = PROJECT / folder.relative_to(PROJECT / "tests")
                assert source.is_dir(), f"{folder.relative_to(PROJECT)} mirrors no source folder"


def test_the_readme_layout_names_every_package():
    layout = (PROJECT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z0-9_]+(?:/[a-z0-9_]+)*/)`", layout))
    packages = {
        f"{module_name(init.parent / 'x.py', PROJECT).rsplit('.', 1)[0].replace('.', '/')}/"
        for top in ("app", "worker", "client")
        for init in (PROJECT / top).rglob("__init__.py")
    }
    assert packages - named == set(), "packages the README's Layout section does not name"
    assert {name for name in named if not (PROJECT / name).is_dir()} == set(), (
        "folders the Layout section names that are not in the tree"
    )
