"""HTTP routes for hosts: the plugin admin API and provider webhooks.

The routes themselves are framework-neutral (:class:`PluginAdmin` and
:class:`vbwd_plugins.WebhookProcessor`); two thin adapters mount them:

* ``vbwd_plugins.web.flask.create_blueprint`` (``pip install "vbwd-plugins[flask]"``);
* ``vbwd_plugins.web.asgi.create_app`` for FastAPI / Starlette (``vbwd-plugins[asgi]``).

Importing this package imports neither framework.
"""

from ._admin import PluginAdmin as PluginAdmin
from ._admin import error_response as error_response
from ._common import DEFAULT_MAX_BODY as DEFAULT_MAX_BODY
from ._common import AdminResponse as AdminResponse
from ._common import WebhookHandler as WebhookHandler
from ._common import bearer_token as bearer_token

__all__ = [
    "DEFAULT_MAX_BODY",
    "AdminResponse",
    "PluginAdmin",
    "WebhookHandler",
    "bearer_token",
    "error_response",
]
