"""The admin service: list, enable, disable and configure plugins.

One service behind the web admin API and the ``vbwd-plugins`` command.
"""

from vbwd_plugins.admin._response import AdminResponse as AdminResponse
from vbwd_plugins.admin._service import PluginAdmin as PluginAdmin
from vbwd_plugins.admin._service import error_response as error_response

__all__ = [
    "AdminResponse",
    "PluginAdmin",
    "error_response",
]
