"""The admin services: plugins (list, enable, disable, configure) and deliveries (list, retry).

The services behind the web admin APIs and the ``vbwd-plugins`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbwd_plugins._lazy import lazy_names as _lazy_names

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


__getattr__ = _lazy_names(__name__, globals(), _LAZY)
