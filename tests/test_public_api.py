"""The public surface of ``vbwd_plugins`` is explicit and importable."""

from __future__ import annotations

import subprocess
import sys

import vbwd_plugins


def test_all_is_sorted_unique_and_importable() -> None:
    """Every name in ``__all__`` exists; the list is sorted and has no duplicates."""
    names = vbwd_plugins.__all__
    assert len(names) == len(set(names))
    assert list(names) == sorted(names, key=lambda n: (not n.isupper(), n)) or list(
        names
    ) == sorted(names)
    for name in names:
        assert getattr(vbwd_plugins, name) is not None, name


def test_no_private_module_leaks_into_the_namespace_unlisted() -> None:
    """Public (non-underscore) attributes of the package are all listed in ``__all__``."""
    public = {
        name
        for name, value in vars(vbwd_plugins).items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    }
    assert public <= set(vbwd_plugins.__all__)


def test_seed_names_are_exported() -> None:
    """The original design's names are importable from the package root."""
    for name in (
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
        "Money",
    ):
        assert name in vbwd_plugins.__all__, name


def test_import_is_light() -> None:
    """Importing the core imports no provider SDK, HTTP client or web framework."""
    code = (
        "import sys, vbwd_plugins; "
        "print(sorted(m for m in ('stripe', 'requests', 'flask', 'starlette', 'psycopg', "
        "'vbwd_stripe', 'vbwd_paypal') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
