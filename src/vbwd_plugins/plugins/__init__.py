"""The plugin model, its manager, discovery, dependency order and hooks."""

from vbwd_plugins.plugins._discovery import DEFAULT_GROUP as DEFAULT_GROUP
from vbwd_plugins.plugins._discovery import AllowPolicy as AllowPolicy
from vbwd_plugins.plugins._discovery import DiscoveredPlugin as DiscoveredPlugin
from vbwd_plugins.plugins._discovery import DiscoveryState as DiscoveryState
from vbwd_plugins.plugins._follower import StoreFollower as StoreFollower
from vbwd_plugins.plugins._hooks import ListenerSpec as ListenerSpec
from vbwd_plugins.plugins._hooks import hookimpl as hookimpl
from vbwd_plugins.plugins._hooks import hookspec as hookspec
from vbwd_plugins.plugins._hooks import listener as listener
from vbwd_plugins.plugins._listing import LoadReport as LoadReport
from vbwd_plugins.plugins._listing import PluginInfo as PluginInfo
from vbwd_plugins.plugins._manager import PluginManager as PluginManager
from vbwd_plugins.plugins._model import BasePlugin as BasePlugin
from vbwd_plugins.plugins._model import PluginMetadata as PluginMetadata
from vbwd_plugins.plugins._model import PluginStatus as PluginStatus

__all__ = [
    "AllowPolicy",
    "BasePlugin",
    "DEFAULT_GROUP",
    "DiscoveredPlugin",
    "DiscoveryState",
    "ListenerSpec",
    "LoadReport",
    "PluginInfo",
    "PluginManager",
    "PluginMetadata",
    "PluginStatus",
    "StoreFollower",
    "hookimpl",
    "hookspec",
    "listener",
]
