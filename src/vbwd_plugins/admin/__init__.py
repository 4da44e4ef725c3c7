"""The admin services: plugins (list, enable, disable, configure) and deliveries (list, retry).

The services behind the web admin APIs and the ``vbwd-plugins`` command.
"""

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
