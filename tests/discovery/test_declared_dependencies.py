"""Dependencies as distributions declare them (``Requires-Dist``), read without importing."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests._support import DistFactory
from vbwd_plugins.plugins import DiscoveredPlugin
from vbwd_plugins.plugins._discovery import _normalize, declared_dependencies, discover

GROUP = "vbwd.deptest"

PLUGINS = """
from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)

class Plugin(BasePlugin):
    metadata = PluginMetadata("unused", "1.0", "t", "never imported by these tests")
"""


def _requires(info: Path, *requirements: str) -> None:
    """Add ``Requires-Dist`` lines to a distribution made by ``make_dist``."""
    metadata = info / "METADATA"
    lines = "".join(f"Requires-Dist: {requirement}\n" for requirement in requirements)
    metadata.write_text(metadata.read_text(encoding="utf-8") + lines, encoding="utf-8")


def _by_name(found: dict[DiscoveredPlugin, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {plugin.name: deps for plugin, deps in found.items()}


def test_requirements_on_plugin_distributions_name_their_plugins(make_dist: DistFactory) -> None:
    """A requirement on a distribution that provides plugins names each of them with the
    requirement's specifier; SDKs, extras, false markers and the distribution itself do not
    count; nothing is imported."""
    both = {"base": "dep_plugins:Plugin", "tax": "dep_plugins:Plugin"}
    make_dist("acme-base", "1.4.0", both, modules={"dep_plugins": PLUGINS}, group=GROUP)
    shop = make_dist("acme-shop", "2.0", {"shop": "dep_plugins:Plugin"}, group=GROUP)
    _requires(
        shop,
        "stripe>=16,<17",
        "Acme_Base[extra]>=1.2,<2",
        "acme-shop",
        'acme-lint; extra == "test"',
        'acme-base>=9; python_version < "3.0"',
    )
    make_dist("acme-lint", "0.1", {"lint": "dep_plugins:Plugin"}, group=GROUP)
    found = discover(GROUP)
    assert _by_name(declared_dependencies(found)) == {
        "base": (),
        "lint": (),
        "shop": ("base<2,>=1.2", "tax<2,>=1.2"),
        "tax": (),
    }
    assert "dep_plugins" not in sys.modules


def test_a_requirement_without_a_specifier_names_the_plugin_alone(make_dist: DistFactory) -> None:
    """``Requires-Dist: acme-base`` becomes plain ``base``; a URL requirement too."""
    make_dist("acme-base", "1.0", {"base": "dep_plugins:Plugin"}, group=GROUP)
    one = make_dist("acme-one", "1.0", {"one": "dep_plugins:Plugin"}, group=GROUP)
    two = make_dist("acme-two", "1.0", {"two": "dep_plugins:Plugin"}, group=GROUP)
    _requires(one, "acme-base")
    _requires(two, "acme-base @ https://example.invalid/acme_base-1.0-py3-none-any.whl")
    deps = _by_name(declared_dependencies(discover(GROUP)))
    assert deps["one"] == ("base",) and deps["two"] == ("base",)


def test_each_claim_of_a_conflicting_name_keeps_its_own_dependencies(
    make_dist: DistFactory,
) -> None:
    """Two distributions claiming one name are two entries, each with what it declares."""
    make_dist("acme-base", "1.0", {"base": "dep_plugins:Plugin"}, group=GROUP)
    first = make_dist("acme-pay", "1.0", {"pay": "dep_plugins:Plugin"}, group=GROUP)
    make_dist("evil-pay", "6.6", {"pay": "dep_plugins:Plugin"}, group=GROUP)
    _requires(first, "acme-base>=1")
    found = declared_dependencies(discover(GROUP))
    pays = {plugin.distribution: deps for plugin, deps in found.items() if plugin.name == "pay"}
    assert pays == {"acme-pay": ("base>=1",), "evil-pay": ()}


def test_plugins_without_distribution_metadata_have_no_declared_dependencies() -> None:
    """Entry points given by hand (no distribution) declare nothing."""
    from importlib.metadata import EntryPoint

    plugin = DiscoveredPlugin("x", "dist-x", "1", "m:X", entry_point=EntryPoint("x", "m:X", GROUP))
    assert declared_dependencies([plugin]) == {plugin: ()}


@given(st.text(alphabet="aAzZ09-_.", min_size=1, max_size=12))
def test_names_are_normalized_as_pep_503_says(name: str) -> None:
    """The fast normalization equals PEP 503's regex for any name."""
    assert _normalize(name) == re.sub(r"[-_.]+", "-", name).lower()
