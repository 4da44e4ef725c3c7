"""HTTP routes for hosts: the plugin admin API and provider webhooks.

The routes themselves are framework-neutral (:class:`vbwd_plugins.admin.PluginAdmin` and
:class:`vbwd_plugins.WebhookProcessor`); two thin adapters mount them:

* ``vbwd_plugins.web.flask.create_blueprint`` (``pip install "vbwd-plugins[flask]"``);
* ``vbwd_plugins.web.asgi.create_app`` for FastAPI / Starlette (``vbwd-plugins[asgi]``).

Importing this package imports neither framework.
"""

from vbwd_plugins.web._common import DEFAULT_MAX_BODY as DEFAULT_MAX_BODY
from vbwd_plugins.web._common import WebhookHandler as WebhookHandler
from vbwd_plugins.web._common import bearer_token as bearer_token

__all__ = [
    "DEFAULT_MAX_BODY",
    "WebhookHandler",
    "bearer_token",
]
