"""The public surface: a small front door, and each other name in the subpackage that owns it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from types import ModuleType

import pytest

import vbwd_plugins

SEED_NAMES = (
    "BasePlugin",
    "PluginMetadata",
    "PluginStatus",
    "PluginManager",
    "EventDispatcher",
    "Event",
    "EventPriority",
    "PaymentProviderPlugin",
    "PaymentResult",
    "PaymentStatus",
)

PUBLIC_PACKAGES = (
    "vbwd_plugins",
    "vbwd_plugins.admin",
    "vbwd_plugins.config",
    "vbwd_plugins.errors",
    "vbwd_plugins.events",
    "vbwd_plugins.payments",
    "vbwd_plugins.plugins",
    "vbwd_plugins.stores",
    "vbwd_plugins.telemetry",
    "vbwd_plugins.testing",
    "vbwd_plugins.web",
    "vbwd_plugins.webhooks",
)


def _public_attributes(module: ModuleType) -> set[str]:
    """Public names a module defines or re-exports from vbwd_plugins (not its own imports)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "TYPE_CHECKING"
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", "vbwd_plugins").startswith("vbwd_plugins")
    }


def test_front_door_is_small() -> None:
    """The root exports at most 30 names: the seed's and the few a host needs every day."""
    assert len(vbwd_plugins.__all__) <= 30


def test_seed_names_are_exported() -> None:
    """The original design's names are importable from the package root."""
    for name in SEED_NAMES:
        assert name in vbwd_plugins.__all__, name


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_all_is_sorted_unique_and_importable(package: str) -> None:
    """Every listed name exists; ``__all__`` is sorted and has no duplicates."""
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert len(names) == len(set(names))
    assert names == sorted(names) or names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_nothing_public_is_unlisted(package: str) -> None:
    """Public (non-underscore) attributes of each public package are all in its ``__all__``."""
    module = importlib.import_module(package)
    assert _public_attributes(module) <= set(module.__all__)


def test_every_root_name_has_one_home() -> None:
    """Each front-door name is the same object its subpackage exports."""
    homes = [importlib.import_module(p) for p in PUBLIC_PACKAGES[1:]]
    for name in vbwd_plugins.__all__:
        owners = [m.__name__ for m in homes if name in m.__all__]
        assert owners, f"{name} is exported from the root only"
        for owner in owners:
            assert getattr(sys.modules[owner], name) is getattr(vbwd_plugins, name)


def test_every_error_lives_in_errors() -> None:
    """Exceptions are exported from ``vbwd_plugins.errors`` and all derive from PluginError."""
    import vbwd_plugins.errors as errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.PluginError), name
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, Exception):
                assert name in errors.__all__, f"{package}.{name}"


#: What ``import vbwd_plugins`` never imports: providers, SDKs, frameworks, drivers, and the
#: libraries that load on first use (pluggy itself is imported: it carries the hooks).
NOT_ON_IMPORT = (
    "stripe",
    "requests",
    "flask",
    "starlette",
    "psycopg",
    "vbwd_stripe",
    "vbwd_paypal",
    "pydantic",
    "pydantic_core",
    "cryptography",
    "asyncio",
    "packaging",
    "importlib.metadata",
    "sqlite3",
    "opentelemetry",
    "prometheus_client",
)


def _imported_after(code: str, watch: tuple[str, ...]) -> list[str]:
    """Which of ``watch`` a fresh interpreter has imported after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {watch!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result: list[str] = json.loads(out.stdout)
    return result


def test_import_is_light() -> None:
    """``import vbwd_plugins`` imports no provider, SDK, framework or driver, and none of
    pydantic, cryptography, asyncio, packaging and importlib.metadata."""
    assert _imported_after("import vbwd_plugins", NOT_ON_IMPORT) == []


def test_the_seed_names_need_no_heavy_library() -> None:
    """Importing and using the seed's names (a plugin class, a manager, an event) still loads
    none of the libraries that wait for first use."""
    code = (
        "from vbwd_plugins import BasePlugin, PluginManager, PluginMetadata, Event\n"
        "class P(BasePlugin):\n"
        "    metadata = PluginMetadata('p', '1.0', 'a', 'd')\n"
        "manager = PluginManager()\n"
        "manager.event_dispatcher.dispatch(Event('e', {}))"
    )
    assert _imported_after(code, NOT_ON_IMPORT) == []


def test_lazily_loaded_root_names_are_the_real_objects() -> None:
    """The names the root loads on first use (stores, webhook pipeline, payment events) are
    the owning subpackages' objects, and ``from vbwd_plugins import *`` still gives all."""
    namespace: dict[str, object] = {}
    exec("from vbwd_plugins import *", namespace)
    assert set(vbwd_plugins.__all__) <= set(namespace)
    for name, home in vbwd_plugins._LAZY.items():
        assert namespace[name] is getattr(importlib.import_module(home), name)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        vbwd_plugins.Nope  # noqa: B018 - the lookup is the test
