"""The admin services: plugins (list, enable, disable, configure) and deliveries (list, retry).

The services behind the web admin APIs and the ``vbwd-plugins`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vbwd_plugins.admin._deliveries import DeliveryAdmin as DeliveryAdmin
    from vbwd_plugins.admin._response import AdminResponse as AdminResponse
    from vbwd_plugins.admin._service import PluginAdmin as PluginAdmin
    from vbwd_plugins.admin._service import error_response as error_response

__all__ = [
    "AdminResponse",
    "DeliveryAdmin",
    "PluginAdmin",
    "error_response",
]

#: Loaded on first use, so a command that needs only the plugin service (``list``) does not
#: load the delivery machinery.
_LAZY: dict[str, str] = {
    "AdminResponse": "vbwd_plugins.admin._response",
    "DeliveryAdmin": "vbwd_plugins.admin._deliveries",
    "PluginAdmin": "vbwd_plugins.admin._service",
    "error_response": "vbwd_plugins.admin._service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
