"""Lazy discovery through real ``*.dist-info`` distributions on a temporary path."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests._support import DistFactory
from vbwd_plugins import (
    PluginManager,
    PluginStatus,
)
from vbwd_plugins.errors import (
    PluginBlockedError,
    PluginConflictError,
    PluginLoadError,
    PluginNotFoundError,
)
from vbwd_plugins.plugins import DiscoveryState

GOOD = """
from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)

IMPORTED = True

class AcmePlugin(BasePlugin):
    metadata = PluginMetadata("acme", "2.3.0", "Acme", "Acme payments")

INSTANCE = AcmePlugin()
"""


def test_discover_lists_without_importing(make_dist: DistFactory) -> None:
    """discover() reports name, distribution and version and imports nothing."""
    make_dist("acme-pay", "2.3.0", {"acme": "acme_pay:AcmePlugin"}, modules={"acme_pay": GOOD})
    manager = PluginManager(group="vbwd.test")
    found = manager.discover("vbwd.plugins")
    acme = next(p for p in found if p.name == "acme")
    assert (acme.distribution, acme.version, acme.value) == (
        "acme-pay",
        "2.3.0",
        "acme_pay:AcmePlugin",
    )
    assert acme.state is DiscoveryState.AVAILABLE
    assert "acme_pay" not in sys.modules
    assert manager.get_plugin("acme") is None


def test_plugin_is_imported_when_initialized(make_dist: DistFactory) -> None:
    """Initializing a discovered plugin by name imports, registers and initializes it."""
    make_dist("acme-pay", "2.3.0", {"acme": "acme_pay:AcmePlugin"}, modules={"acme_pay": GOOD})
    manager = PluginManager()
    manager.discover()
    manager.initialize_plugin("acme", {"k": 1})
    assert "acme_pay" in sys.modules
    plugin = manager.get_plugin("acme")
    assert plugin is not None and plugin.status is PluginStatus.INITIALIZED


def test_entry_point_may_name_an_instance(make_dist: DistFactory) -> None:
    """An entry point may point at a plugin instance instead of a class."""
    make_dist("acme-pay", "2.3.0", {"acme": "acme_pay:INSTANCE"}, modules={"acme_pay": GOOD})
    manager = PluginManager()
    manager.discover()
    assert manager.load_plugin("acme") is sys.modules["acme_pay"].INSTANCE


BROKEN = {
    "importerror": ("broken_import", "import does_not_exist_anywhere\n", "importing"),
    "wrongtype": ("broken_type", "class NotAPlugin:\n    pass\n", "not a BasePlugin"),
    "mismatch": (
        "broken_name",
        GOOD.replace("AcmePlugin", "Mismatch"),
        "metadata.name is 'acme'",
    ),
    "initfails": (
        "broken_init",
        GOOD
        + "\nclass Boom(AcmePlugin):\n    def __init__(self):\n        raise OSError('disk')\n",
        "raised OSError: disk",
    ),
}


def test_each_broken_plugin_is_reported_and_others_load(make_dist: DistFactory) -> None:
    """Import errors, wrong types, name mismatches and failing constructors are each reported."""
    make_dist("acme-pay", "2.3.0", {"acme": "acme_pay:AcmePlugin"}, modules={"acme_pay": GOOD})
    for plugin_name, (module, source, _) in BROKEN.items():
        attr = {"initfails": "Boom", "mismatch": "Mismatch", "wrongtype": "NotAPlugin"}.get(
            plugin_name, "Anything"
        )
        make_dist(
            f"dist-{plugin_name}",
            "0.1",
            {plugin_name: f"{module}:{attr}"},
            modules={module: source},
        )
    manager = PluginManager()
    manager.discover()
    report = manager.load_plugins()
    assert "acme" in report.loaded
    assert set(report.failed) >= set(BROKEN)
    for plugin_name, (_, _, expected) in BROKEN.items():
        err = report.failed[plugin_name]
        assert isinstance(err, PluginLoadError)
        assert err.plugin_name == plugin_name
        assert err.distribution == f"dist-{plugin_name}"
        assert f"dist-{plugin_name}" in str(err) and expected in str(err)


def test_two_distributions_claiming_one_name_conflict(make_dist: DistFactory) -> None:
    """A name claimed twice is listed as a conflict naming both; neither loads."""
    make_dist("acme-pay", "1.0", {"acme": "acme_pay:AcmePlugin"}, modules={"acme_pay": GOOD})
    make_dist("evil-acme", "9.9", {"acme": "acme_pay:AcmePlugin"})
    manager = PluginManager()
    found = [p for p in manager.discover() if p.name == "acme"]
    assert {p.state for p in found} == {DiscoveryState.CONFLICT}
    assert {p.distribution for p in found} == {"acme-pay", "evil-acme"}
    with pytest.raises(PluginConflictError) as info:
        manager.load_plugin("acme")
    assert set(info.value.distributions) == {"acme-pay", "evil-acme"}
    assert "acme-pay" in str(info.value) and "evil-acme" in str(info.value)
    assert "acme_pay" not in sys.modules


@pytest.mark.parametrize("policy", [["other"], lambda p: p.distribution != "acme-pay"])
def test_policy_blocks_plugins_without_importing(make_dist: DistFactory, policy: object) -> None:
    """Plugins outside the allow-list or policy are listed as blocked and never imported."""
    make_dist("acme-pay", "1.0", {"acme": "acme_pay:AcmePlugin"}, modules={"acme_pay": GOOD})
    manager = PluginManager(allow=policy)  # type: ignore[arg-type]
    acme = next(p for p in manager.discover() if p.name == "acme")
    assert acme.state is DiscoveryState.BLOCKED
    with pytest.raises(PluginBlockedError, match="acme-pay"):
        manager.enable_plugins(["acme"])
    assert "acme_pay" not in sys.modules
    assert next(i for i in manager.describe() if i.name == "acme").status == "blocked"


def test_allow_list_by_distribution_name(make_dist: DistFactory) -> None:
    """An allow-list may name the distribution instead of the plugin."""
    make_dist("acme-pay", "1.0", {"acme": "acme_pay:AcmePlugin"}, modules={"acme_pay": GOOD})
    manager = PluginManager(allow={"acme-pay"})
    manager.discover()
    assert manager.enable_plugins(["acme"]) == ["acme"]


def test_unknown_name_is_not_found() -> None:
    """Loading a name nobody installed raises PluginNotFoundError."""
    manager = PluginManager()
    manager.discover()
    with pytest.raises(PluginNotFoundError, match="not found"):
        manager.load_plugin("no-such-plugin")


def test_installed_provider_distributions_are_discovered_lazily() -> None:
    """The installed vbwd-stripe and vbwd-paypal are discovered without importing them, their
    SDKs, or the libraries only configuration and version checks need."""
    code = textwrap.dedent(
        """
        import sys, json
        from vbwd_plugins import PluginManager
        found = {p.name: (p.distribution, p.state.value) for p in PluginManager().discover()}
        heavy = [
            m
            for m in (
                "stripe", "requests", "vbwd_stripe", "vbwd_paypal",
                "pydantic", "cryptography", "packaging", "asyncio",
            )
            if m in sys.modules
        ]
        print(json.dumps({"found": found, "imported": heavy}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    import json

    result = json.loads(out)
    assert result["found"]["stripe"] == ["vbwd-stripe", "available"]
    assert result["found"]["paypal"] == ["vbwd-paypal", "available"]
    assert result["imported"] == []
