"""vbwd-plugins: payment providers, notification services and business logic as plugins.

The names here are the ones a host or plugin author needs every day. Everything else lives in
the subpackage that owns it: :mod:`vbwd_plugins.plugins`, :mod:`vbwd_plugins.events`,
:mod:`vbwd_plugins.config`, :mod:`vbwd_plugins.payments`, :mod:`vbwd_plugins.webhooks`,
:mod:`vbwd_plugins.stores`, :mod:`vbwd_plugins.admin`, :mod:`vbwd_plugins.web`,
:mod:`vbwd_plugins.errors` and :mod:`vbwd_plugins.testing`.

``import vbwd_plugins`` stays light. It loads the plugin kernel (plugins, events, errors);
the payments domain, the stores and the webhook pipeline load the first time one of their
names is used, and pydantic, cryptography, asyncio, packaging and ``importlib.metadata`` the
first time something needs them.
"""

from typing import TYPE_CHECKING

from vbwd_plugins._lazy import lazy_names as _lazy_names
from vbwd_plugins.errors import ConfigValidationError as ConfigValidationError
from vbwd_plugins.errors import PluginError as PluginError
from vbwd_plugins.errors import WebhookVerificationError as WebhookVerificationError
from vbwd_plugins.events import Event as Event
from vbwd_plugins.events import EventDispatcher as EventDispatcher
from vbwd_plugins.events import EventPriority as EventPriority
from vbwd_plugins.plugins import BasePlugin as BasePlugin
from vbwd_plugins.plugins import PluginManager as PluginManager
from vbwd_plugins.plugins import PluginMetadata as PluginMetadata
from vbwd_plugins.plugins import PluginStatus as PluginStatus
from vbwd_plugins.plugins import hookimpl as hookimpl
from vbwd_plugins.plugins import hookspec as hookspec
from vbwd_plugins.plugins import listener as listener

if TYPE_CHECKING:
    from vbwd_plugins.payments import Capability as Capability
    from vbwd_plugins.payments import Money as Money
    from vbwd_plugins.payments import PaymentErrorCode as PaymentErrorCode
    from vbwd_plugins.payments import PaymentEventData as PaymentEventData
    from vbwd_plugins.payments import PaymentEventType as PaymentEventType
    from vbwd_plugins.payments import PaymentProviderPlugin as PaymentProviderPlugin
    from vbwd_plugins.payments import PaymentResult as PaymentResult
    from vbwd_plugins.payments import PaymentStatus as PaymentStatus
    from vbwd_plugins.stores import PostgresStateStore as PostgresStateStore
    from vbwd_plugins.stores import SQLiteStateStore as SQLiteStateStore
    from vbwd_plugins.webhooks import WebhookProcessor as WebhookProcessor
    from vbwd_plugins.webhooks import WebhookResponse as WebhookResponse

__version__ = "0.1.0"

__all__ = [
    "BasePlugin",
    "Capability",
    "ConfigValidationError",
    "Event",
    "EventDispatcher",
    "EventPriority",
    "Money",
    "PaymentErrorCode",
    "PaymentEventData",
    "PaymentEventType",
    "PaymentProviderPlugin",
    "PaymentResult",
    "PaymentStatus",
    "PluginError",
    "PluginManager",
    "PluginMetadata",
    "PluginStatus",
    "PostgresStateStore",
    "SQLiteStateStore",
    "WebhookProcessor",
    "WebhookResponse",
    "WebhookVerificationError",
    "hookimpl",
    "hookspec",
    "listener",
]


#: Names that load their subpackage on first use (module ``__getattr__``, PEP 562); the
#: ``TYPE_CHECKING`` imports above give type checkers the same names.
_LAZY: dict[str, str] = {
    "Capability": "vbwd_plugins.payments",
    "Money": "vbwd_plugins.payments",
    "PaymentErrorCode": "vbwd_plugins.payments",
    "PaymentEventData": "vbwd_plugins.payments",
    "PaymentEventType": "vbwd_plugins.payments",
    "PaymentProviderPlugin": "vbwd_plugins.payments",
    "PaymentResult": "vbwd_plugins.payments",
    "PaymentStatus": "vbwd_plugins.payments",
    "PostgresStateStore": "vbwd_plugins.stores",
    "SQLiteStateStore": "vbwd_plugins.stores",
    "WebhookProcessor": "vbwd_plugins.webhooks",
    "WebhookResponse": "vbwd_plugins.webhooks",
}


__getattr__ = _lazy_names(__name__, globals(), _LAZY)
