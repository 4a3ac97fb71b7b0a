"""The packages' imports point one way: no circles, no grpc in the domain or the spec."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.chrono_server.helpers import REPO_ROOT

PACKAGES = ("chrono_domain", "chrono_server", "time_service", "date_service", "client")


def _runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (anywhere but under ``if TYPE_CHECKING``).

    ``from package import module`` counts as importing the module, not the package.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(child) for body in node.body for child in ast.walk(body)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = REPO_ROOT / node.module.replace(".", "/")
            for alias in node.names:
                submodule = (base / f"{alias.name}.py").exists() or (base / alias.name).is_dir()
                found.add(f"{node.module}.{alias.name}" if submodule else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports at run time."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return {
        name: {imported for imported in _runtime_imports(path) if imported in modules} - {name}
        for name, path in modules.items()
    }


def test_no_import_circles() -> None:
    """No module of the project imports, directly or not, a module that imports it back."""
    graph = _graph()
    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for imported in graph[module]:
                if imported == start:
                    cycles.append([*path, start])
                elif imported not in seen:
                    seen.add(imported)
                    stack.append((imported, [*path, imported]))
    assert cycles == []


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        ("chrono_domain", ("grpc", "chrono_server", "google.rpc")),
        ("chrono_server.spec", ("grpc", "chrono_server.")),
        ("chrono_server.main", ("grpc",)),
        ("chrono_server.workers", ("grpc",)),
        ("chrono_server.config", ("grpc",)),
    ],
)
def test_layers_import_only_what_they_may(modules: str, forbidden: tuple[str, ...]) -> None:
    """The domain, the spec and the supervisor's modules import no grpc (nor the server)."""
    offending = {
        module: sorted(
            imported
            for imported in _runtime_imports(REPO_ROOT / (module.replace(".", "/") + ".py"))
            if imported.startswith(forbidden) or imported in {f.rstrip(".") for f in forbidden}
        )
        for module in _modules_under(modules)
    }
    assert {module: found for module, found in offending.items() if found} == {}


def _modules_under(name: str) -> list[str]:
    path = REPO_ROOT / name.replace(".", "/")
    if path.is_dir():
        return [f"{name}.{file.stem}" for file in sorted(path.glob("*.py"))]
    return [name]
