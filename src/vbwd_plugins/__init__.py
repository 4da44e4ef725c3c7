"""vbwd-plugins: payment providers, notification services and business logic as plugins."""

from ._config import public_config as public_config
from ._currencies import ISO_4217_EXPONENTS as ISO_4217_EXPONENTS
from ._discovery import DEFAULT_GROUP as DEFAULT_GROUP
from ._discovery import AllowPolicy as AllowPolicy
from ._discovery import DiscoveredPlugin as DiscoveredPlugin
from ._discovery import DiscoveryState as DiscoveryState
from ._errors import AsyncListenerError as AsyncListenerError
from ._errors import ConfigValidationError as ConfigValidationError
from ._errors import DependencyCycleError as DependencyCycleError
from ._errors import DependencyError as DependencyError
from ._errors import DependentsEnabledError as DependentsEnabledError
from ._errors import EventDeserializationError as EventDeserializationError
from ._errors import EventSerializationError as EventSerializationError
from ._errors import InvalidListenerError as InvalidListenerError
from ._errors import InvalidMetadataError as InvalidMetadataError
from ._errors import ListenerTimeoutError as ListenerTimeoutError
from ._errors import MoneyError as MoneyError
from ._errors import PluginAlreadyRegisteredError as PluginAlreadyRegisteredError
from ._errors import PluginBlockedError as PluginBlockedError
from ._errors import PluginConflictError as PluginConflictError
from ._errors import PluginError as PluginError
from ._errors import PluginHookError as PluginHookError
from ._errors import PluginLoadError as PluginLoadError
from ._errors import PluginNotFoundError as PluginNotFoundError
from ._errors import PluginStateError as PluginStateError
from ._errors import PluginValidationError as PluginValidationError
from ._errors import SecretsError as SecretsError
from ._errors import StoreConflictError as StoreConflictError
from ._errors import StoreError as StoreError
from ._errors import UnsupportedOperationError as UnsupportedOperationError
from ._errors import WebhookError as WebhookError
from ._errors import WebhookPayloadError as WebhookPayloadError
from ._errors import WebhookVerificationError as WebhookVerificationError
from ._events import Event as Event
from ._events import EventDispatcher as EventDispatcher
from ._events import EventListener as EventListener
from ._events import EventPriority as EventPriority
from ._events import ListenerFailure as ListenerFailure
from ._hooks import ListenerSpec as ListenerSpec
from ._hooks import hookimpl as hookimpl
from ._hooks import listener as listener
from ._manager import LoadReport as LoadReport
from ._manager import PluginInfo as PluginInfo
from ._manager import PluginManager as PluginManager
from ._money import ISO_4217_RULES as ISO_4217_RULES
from ._money import CurrencyRule as CurrencyRule
from ._money import CurrencyRules as CurrencyRules
from ._money import Money as Money
from ._money import currency_exponent as currency_exponent
from ._payment_events import PaymentAuthorized as PaymentAuthorized
from ._payment_events import PaymentCancelled as PaymentCancelled
from ._payment_events import PaymentCompleted as PaymentCompleted
from ._payment_events import PaymentEventData as PaymentEventData
from ._payment_events import PaymentEventType as PaymentEventType
from ._payment_events import PaymentFailed as PaymentFailed
from ._payment_events import PaymentPending as PaymentPending
from ._payment_events import PaymentRefunded as PaymentRefunded
from ._payments import Capability as Capability
from ._payments import PaymentErrorCode as PaymentErrorCode
from ._payments import PaymentProviderPlugin as PaymentProviderPlugin
from ._payments import PaymentResult as PaymentResult
from ._payments import PaymentStatus as PaymentStatus
from ._payments import header_value as header_value
from ._plugin import BasePlugin as BasePlugin
from ._plugin import PluginMetadata as PluginMetadata
from ._plugin import PluginStatus as PluginStatus
from ._secrets import FernetSecretBox as FernetSecretBox
from ._secrets import SecretBox as SecretBox
from ._serialization import register_event_enum as register_event_enum
from ._webhooks import WebhookProcessor as WebhookProcessor
from ._webhooks import WebhookResponse as WebhookResponse
from .stores import InboxClaim as InboxClaim
from .stores import InboxRecord as InboxRecord
from .stores import InboxStatus as InboxStatus
from .stores import PluginRecord as PluginRecord
from .stores import PostgresStateStore as PostgresStateStore
from .stores import SQLiteStateStore as SQLiteStateStore
from .stores import StateStore as StateStore
from .stores import WebhookInbox as WebhookInbox

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_GROUP",
    "ISO_4217_EXPONENTS",
    "ISO_4217_RULES",
    "AllowPolicy",
    "AsyncListenerError",
    "BasePlugin",
    "Capability",
    "ConfigValidationError",
    "CurrencyRule",
    "CurrencyRules",
    "DependencyCycleError",
    "DependencyError",
    "DependentsEnabledError",
    "DiscoveredPlugin",
    "DiscoveryState",
    "Event",
    "EventDeserializationError",
    "EventDispatcher",
    "EventListener",
    "EventPriority",
    "EventSerializationError",
    "FernetSecretBox",
    "InboxClaim",
    "InboxRecord",
    "InboxStatus",
    "InvalidListenerError",
    "InvalidMetadataError",
    "ListenerFailure",
    "ListenerSpec",
    "ListenerTimeoutError",
    "LoadReport",
    "Money",
    "MoneyError",
    "PaymentAuthorized",
    "PaymentCancelled",
    "PaymentCompleted",
    "PaymentErrorCode",
    "PaymentEventData",
    "PaymentEventType",
    "PaymentFailed",
    "PaymentPending",
    "PaymentProviderPlugin",
    "PaymentRefunded",
    "PaymentResult",
    "PaymentStatus",
    "PluginAlreadyRegisteredError",
    "PluginBlockedError",
    "PluginConflictError",
    "PluginError",
    "PluginHookError",
    "PluginInfo",
    "PluginLoadError",
    "PluginManager",
    "PluginMetadata",
    "PluginNotFoundError",
    "PluginRecord",
    "PluginStateError",
    "PluginStatus",
    "PluginValidationError",
    "PostgresStateStore",
    "SQLiteStateStore",
    "SecretBox",
    "SecretsError",
    "StateStore",
    "StoreConflictError",
    "StoreError",
    "UnsupportedOperationError",
    "WebhookError",
    "WebhookInbox",
    "WebhookPayloadError",
    "WebhookProcessor",
    "WebhookResponse",
    "WebhookVerificationError",
    "currency_exponent",
    "header_value",
    "hookimpl",
    "listener",
    "public_config",
    "register_event_enum",
]
