"""The one exception hierarchy of vbwd-plugins.

Every error the library raises derives from :class:`PluginError` and also from the
built-in a caller would naturally catch, so code written against the original design
(which caught ``ValueError``) keeps working::

    PluginError(Exception)
    ├── InvalidMetadataError(ValueError)         metadata field fails validation
    ├── PluginNotFoundError(ValueError, LookupError)
    ├── PluginAlreadyRegisteredError(ValueError)
    ├── PluginStateError(ValueError)             illegal lifecycle transition
    ├── PluginHookError(RuntimeError)            a lifecycle hook raised; plugin is ERROR
    ├── PluginLoadError(ImportError)             entry point could not be loaded
    │   ├── PluginConflictError                  two distributions claim one name
    │   └── PluginBlockedError                   outside the host's allow policy
    ├── PluginValidationError(TypeError)         plugin implements an unknown hook
    ├── DependencyError(ValueError)              missing or wrong-version dependency
    │   ├── DependencyCycleError                 ``a -> b -> a``
    │   └── DependentsEnabledError               "plugins [...] depend on it"
    ├── ConfigValidationError(ValueError)        configuration fails its schema
    ├── SecretsError(RuntimeError)               no key / wrong key for stored secrets
    ├── StoreError(RuntimeError)                 the state store failed
    │   └── StoreConflictError                   optimistic-lock conflict
    ├── EventSerializationError(TypeError)       event data is not serializable
    │   └── EventDeserializationError(ValueError)  text is not a serialized event
    ├── InvalidListenerError(TypeError, ValueError)  add_listener got an unusable argument
    ├── AsyncListenerError(TypeError)            async listener met sync dispatch(); not run
    ├── ListenerTimeoutError(TimeoutError)       async listener exceeded its timeout
    ├── ListenerNotFoundError(LookupError)       a delivery names a listener this process lacks
    ├── DeliveryNotFoundError(LookupError)       no delivery has that id
    ├── MoneyError(ValueError)                   invalid amount or currency
    ├── PaymentResultError(ValueError)           a PaymentResult's fields contradict each other
    ├── UnsupportedOperationError(NotImplementedError)
    └── WebhookError(ValueError)                 a webhook delivery was refused
        ├── WebhookVerificationError             did not verify; ``reason`` says why (401)
        └── WebhookPayloadError                  body or event payload malformed (400)

Each error carries ``plugin_name`` (``None`` where no plugin is involved) and the other
context named in its message as attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AsyncListenerError",
    "BillingFailedError",
    "BillingRequestError",
    "ConfigValidationError",
    "DeliveryNotFoundError",
    "DependencyCycleError",
    "DependencyError",
    "DependentsEnabledError",
    "EventDeserializationError",
    "EventSerializationError",
    "InvalidListenerError",
    "InvalidMetadataError",
    "ListenerNotFoundError",
    "ListenerTimeoutError",
    "MoneyError",
    "PaymentResultError",
    "PluginAlreadyRegisteredError",
    "PluginBlockedError",
    "PluginConflictError",
    "PluginError",
    "PluginHookError",
    "PluginLoadError",
    "PluginNotFoundError",
    "PluginStateError",
    "PluginValidationError",
    "SecretsError",
    "StoreConflictError",
    "StoreError",
    "UnsupportedOperationError",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookVerificationError",
]


class PluginError(Exception):
    """Root of every error raised by vbwd-plugins."""

    def __init__(self, message: str, *, plugin_name: str | None = None) -> None:
        super().__init__(message)
        self.plugin_name = plugin_name


class InvalidMetadataError(PluginError, ValueError):
    """A plugin's metadata has an invalid field."""

    def __init__(self, message: str, *, plugin_name: str | None, field: str) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.field = field


class PluginNotFoundError(PluginError, ValueError, LookupError):
    """No plugin of that name is registered (or discovered)."""


class PluginAlreadyRegisteredError(PluginError, ValueError):
    """A plugin of that name is already registered."""


class PluginStateError(PluginError, ValueError):
    """The requested lifecycle action is not allowed from the plugin's status."""

    def __init__(
        self, message: str, *, plugin_name: str | None, status: object, action: str
    ) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.status = status
        self.action = action


class PluginHookError(PluginError, RuntimeError):
    """A lifecycle hook raised; the plugin is now in ERROR and ``__cause__`` holds why."""

    def __init__(self, message: str, *, plugin_name: str | None, hook: str) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.hook = hook


class PluginLoadError(PluginError, ImportError):
    """An installed plugin could not be loaded from its entry point."""

    def __init__(
        self,
        message: str,
        *,
        plugin_name: str | None,
        distribution: str | None = None,
    ) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.distribution = distribution


class PluginConflictError(PluginLoadError):
    """Two or more distributions declare the same plugin name; none is loaded."""

    def __init__(self, message: str, *, plugin_name: str, distributions: Sequence[str]) -> None:
        super().__init__(message, plugin_name=plugin_name, distribution=None)
        self.distributions = tuple(distributions)


class PluginBlockedError(PluginLoadError):
    """The host's policy does not allow this plugin to load."""


class PluginValidationError(PluginError, TypeError):
    """A plugin implements a hook the core does not define (usually a typo)."""


class DependencyError(PluginError, ValueError):
    """A dependency is missing, not enabled, or of a version that does not match."""

    def __init__(
        self,
        message: str,
        *,
        plugin_name: str | None,
        requirement: str | None = None,
        found_version: str | None = None,
    ) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.requirement = requirement
        self.found_version = found_version


class DependencyCycleError(DependencyError):
    """Plugin dependencies form a cycle; ``cycle`` is the path, first node repeated."""

    def __init__(self, message: str, *, cycle: Sequence[str]) -> None:
        super().__init__(message, plugin_name=cycle[0] if cycle else None)
        self.cycle = tuple(cycle)


class DependentsEnabledError(DependencyError):
    """A plugin cannot be disabled while enabled plugins depend on it."""

    def __init__(self, message: str, *, plugin_name: str, dependents: Sequence[str]) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.dependents = tuple(dependents)


class ConfigValidationError(PluginError, ValueError):
    """Configuration does not satisfy the plugin's schema.

    ``errors`` maps each bad field (dotted path) to the reason; values are never included.
    """

    def __init__(self, message: str, *, plugin_name: str | None, errors: dict[str, str]) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.errors = dict(errors)


class SecretsError(PluginError, RuntimeError):
    """Stored secrets cannot be encrypted or decrypted (no key, wrong key)."""


class StoreError(PluginError, RuntimeError):
    """The state store failed to read or write."""


class StoreConflictError(StoreError):
    """An update carried a stale row version; nothing was written."""

    def __init__(
        self,
        message: str,
        *,
        plugin_name: str | None,
        expected_version: int | None = None,
        actual_version: int | None = None,
    ) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.expected_version = expected_version
        self.actual_version = actual_version


class EventSerializationError(PluginError, TypeError):
    """Event data holds a value that cannot be serialized; ``path`` says where."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class EventDeserializationError(EventSerializationError, ValueError):
    """Text given to ``Event.from_json`` is not a serialized event; ``path`` says where."""


class InvalidListenerError(PluginError, TypeError, ValueError):
    """``add_listener`` got an event name, callback, priority or timeout it cannot use."""


class AsyncListenerError(PluginError, TypeError):
    """An ``async`` listener met the sync ``dispatch()``; it was not run (no coroutine made)."""

    def __init__(self, message: str, *, listener: str, event_name: str) -> None:
        super().__init__(message)
        self.listener = listener
        self.event_name = event_name


class ListenerTimeoutError(PluginError, TimeoutError):
    """An async listener ran longer than its timeout and was cancelled."""

    def __init__(self, message: str, *, listener: str, event_name: str, timeout: float) -> None:
        super().__init__(message)
        self.listener = listener
        self.event_name = event_name
        self.timeout = timeout


class ListenerNotFoundError(PluginError, LookupError):
    """A delivery names a listener id this process's dispatcher does not have."""

    def __init__(self, message: str, *, listener: str, event_name: str) -> None:
        super().__init__(message)
        self.listener = listener
        self.event_name = event_name


class DeliveryNotFoundError(PluginError, LookupError):
    """No delivery has that id (an operator's retry or lookup named an unknown one)."""

    def __init__(self, message: str, *, delivery_id: str) -> None:
        super().__init__(message)
        self.delivery_id = delivery_id


class MoneyError(PluginError, ValueError):
    """An amount or currency is invalid (float, too many decimals, unknown code, ...)."""


class PaymentResultError(PluginError, ValueError):
    """A :class:`~vbwd_plugins.PaymentResult` field has the wrong type or contradicts another.

    ``field`` names the field at fault (for a contradiction, the one that was set last).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BillingRequestError(PluginError, ValueError):
    """A recurring-billing request is malformed (a plan, checkout or subscription request).

    ``field`` names the field at fault. Raised before any provider is called: a caller's bug,
    not an outcome (a provider's refusal is a failed :class:`~vbwd_plugins.payments.BillingResult`).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BillingFailedError(PluginError, RuntimeError):
    """:meth:`BillingResult.unwrap <vbwd_plugins.payments.BillingResult.unwrap>` on a failure.

    ``error_code`` is the result's :class:`~vbwd_plugins.payments.PaymentErrorCode`.
    """

    def __init__(self, message: str, *, error_code: object) -> None:
        super().__init__(message)
        self.error_code = error_code


class UnsupportedOperationError(PluginError, NotImplementedError):
    """A provider was asked for an operation its capabilities do not include."""

    def __init__(self, message: str, *, plugin_name: str | None, operation: str) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.operation = operation


class WebhookError(PluginError, ValueError):
    """A webhook delivery was refused; the subclass says why."""


class WebhookVerificationError(WebhookError):
    """A webhook's signature, timestamp, certificate or mode did not verify.

    ``reason`` says why in a few words fit for an audit log ("no signature matched"); it
    never holds a secret or a signature. It defaults to the message.
    """

    def __init__(
        self, message: str, *, plugin_name: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, plugin_name=plugin_name)
        self.reason = reason or message


class WebhookPayloadError(WebhookError):
    """A webhook body, or a payment event built from it, is malformed."""
