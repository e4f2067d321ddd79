"""What the project's modules import: loaded at run time (a fresh interpreter's
``sys.modules``), or written in the source (every import statement, the ones under
``TYPE_CHECKING`` and inside functions too)."""

import ast
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.support.services import PROJECT

WEB = {"fastapi", "starlette"}
TENSORFLOW = {"tensorflow", "keras"}
SOURCE_PACKAGES = ("app", "worker", "client")


def modules_after_importing(*names: str) -> set[str]:
    code = f"import sys; import {', '.join(names)}; print(' '.join(sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return set(completed.stdout.split())


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def written_imports(
    root: Path = PROJECT, packages: Iterable[str] = SOURCE_PACKAGES
) -> dict[str, set[str]]:
    """Each module under ``packages`` and the modules of ``root`` it imports anywhere."""
    files = {
        module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }
    return {name: _imports_of(path, name, set(files)) - {name} for name, path in files.items()}


def _imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                parent = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {module for module in found if module in known}


def package_of(module: str) -> str:
    """The package a module belongs to: ``app.jobs``, ``worker.training``, ``client``;
    the modules directly in ``app/`` (``app.main``, ...) are ``app``, which puts the
    application together."""
    parts = module.split(".")
    if parts[0] == "app" and len(parts) > 1 and (PROJECT / "app" / parts[1]).is_dir():
        return ".".join(parts[:2])
    if parts[0] == "worker" and len(parts) > 1 and (PROJECT / "worker" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return parts[0]


def package_imports(modules: Mapping[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, imported in modules.items():
        edges = graph.setdefault(package_of(module), set())
        edges |= {package_of(other) for other in imported} - {package_of(module)}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: each group of nodes that reach each other
    (Tarjan's strongly connected components of more than one node), sorted."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                lowest[node] = min(lowest[node], lowest[other])
            elif other in stack:
                lowest[node] = min(lowest[node], index[other])
        if lowest[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
