"""The source tree keeps the architecture's shape: small modules, no cycles, one direction."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import vbwd_plugins

CORE = Path(vbwd_plugins.__file__).parent
REPO = Path(__file__).resolve().parents[1]
PROVIDER_SOURCES = sorted(REPO.glob("plugins/*/src/*"))
MAX_LINES = 500

#: What the core never imports at module level: providers, engines, frameworks, drivers.
FOREIGN = (
    "stripe",
    "requests",
    "vbwd_stripe",
    "vbwd_paypal",
    "celery",
    "psycopg",
    "flask",
    "opentelemetry",
    "prometheus_client",
)
#: Modules whose whole purpose is one optional dependency (imported only when asked for).
ADAPTERS = {"vbwd_plugins.web.flask", "vbwd_plugins.web.asgi", "vbwd_plugins.delivery.celery"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _imports(path: Path, module: str) -> Iterator[tuple[str, bool]]:
    """Absolute names a module imports, and whether the import is at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, id(node) in top_level
            for alias in node.names:  # `from pkg import submodule`
                yield f"{target}.{alias.name}", id(node) in top_level


def _graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports, anywhere (TYPE_CHECKING included)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        graph[module] = {
            target for target, _ in _imports(path, module) if target in modules and target != module
        }
    return graph


@pytest.mark.parametrize("root", [CORE, *PROVIDER_SOURCES], ids=lambda p: p.name)
def test_no_import_cycles(root: Path) -> None:
    """No module imports (even under TYPE_CHECKING) a module that imports it back."""
    graph = _graph(root)
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize("root", [CORE, *PROVIDER_SOURCES], ids=lambda p: p.name)
def test_modules_are_short(root: Path) -> None:
    """A reader finishes every source module in one sitting (at most 500 lines)."""
    long = {
        str(path.relative_to(root.parent)): n
        for path in root.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_core_never_imports_providers_engines_or_frameworks_at_import_time() -> None:
    """The core imports providers, Celery, web frameworks and drivers only where they are used."""
    offenders = []
    for module, path in _modules(CORE).items():
        if module in ADAPTERS:
            continue
        for target, top_level in _imports(path, module):
            if top_level and target.split(".")[0] in FOREIGN:
                offenders.append(f"{module} imports {target}")
    assert offenders == []


def test_the_core_never_imports_a_provider_anywhere() -> None:
    """Not even lazily: providers depend on the core, never the other way round."""
    offenders = [
        f"{module} imports {target}"
        for module, path in _modules(CORE).items()
        for target, _ in _imports(path, module)
        if target.split(".")[0] in {"vbwd_stripe", "vbwd_paypal"}
    ]
    assert offenders == []


def test_lower_layers_never_import_upper_ones() -> None:
    """Data flows one way: the kernel, stores and webhooks never reach up into admin, web or CLI."""
    upper = ("vbwd_plugins.admin", "vbwd_plugins.web", "vbwd_plugins.cli")
    lower = (
        "vbwd_plugins.errors",
        "vbwd_plugins.events",
        "vbwd_plugins.payments",
        "vbwd_plugins.stores",
        "vbwd_plugins.config",
        "vbwd_plugins.plugins",
        "vbwd_plugins.webhooks",
    )
    graph = _graph(CORE)
    offenders = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.startswith(lower)
        for target in targets
        if any(target == u or target.startswith(u + ".") for u in upper)
    ]
    assert offenders == []
