"""The installed distribution is discovered through its entry point and loads."""

from vbwd_acmepay import AcmePayPlugin

from vbwd_plugins import PluginManager


def test_installed_plugin_is_discovered_and_loads() -> None:
    """A host finds ``acmepay`` without importing it, then loads and registers it."""
    manager = PluginManager()
    found = {plugin.name: plugin for plugin in manager.discover()}
    assert found["acmepay"].distribution.replace("_", "-") == "vbwd-acmepay"
    plugin = manager.load_plugin("acmepay")
    assert isinstance(plugin, AcmePayPlugin)
    assert manager.get_plugin("acmepay") is plugin
