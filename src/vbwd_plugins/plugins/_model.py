"""The plugin model: status, metadata and the lifecycle every plugin goes through.

The lifecycle is one table (:data:`TRANSITIONS`); :class:`BasePlugin` and the manager
both consult it, so no code path can move a plugin to a status the table forbids.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final

from vbwd_plugins.config._schema import env_config, is_config_schema, validate_config
from vbwd_plugins.errors import (
    ConfigValidationError,
    InvalidListenerError,
    InvalidMetadataError,
    PluginHookError,
    PluginStateError,
)
from vbwd_plugins.events._catalogue import check_event_name

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from pydantic import BaseModel

    from vbwd_plugins.events._dispatcher import EventDispatcher

__all__ = ["TRANSITIONS", "BasePlugin", "PluginMetadata", "PluginStatus"]


class PluginStatus(Enum):
    """Where a plugin is in its lifecycle."""

    DISCOVERED = "discovered"
    REGISTERED = "registered"
    INITIALIZED = "initialized"
    ENABLED = "enabled"
    DISABLED = "disabled"
    UNINSTALLED = "uninstalled"
    ERROR = "error"


_S = PluginStatus

#: action -> (statuses it is allowed from, status it leads to). ``register`` keeps an
#: already-initialized plugin initialized (the original design let a plugin be
#: initialized before it was registered).
TRANSITIONS: Final[Mapping[str, tuple[frozenset[PluginStatus], PluginStatus | None]]] = {
    "register": (frozenset({_S.DISCOVERED, _S.UNINSTALLED, _S.INITIALIZED}), None),
    "initialize": (
        frozenset({_S.DISCOVERED, _S.REGISTERED, _S.INITIALIZED, _S.DISABLED, _S.ERROR}),
        _S.INITIALIZED,
    ),
    "enable": (frozenset({_S.INITIALIZED, _S.DISABLED}), _S.ENABLED),
    "disable": (frozenset({_S.ENABLED}), _S.DISABLED),
    "uninstall": (frozenset({_S.INITIALIZED, _S.DISABLED}), _S.UNINSTALLED),
}


def transition_target(action: str, status: PluginStatus) -> PluginStatus:
    """Return the status ``action`` leads to from ``status`` (``register`` is special)."""
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise ValueError(action)
    if target is None:  # register
        return _S.INITIALIZED if status is _S.INITIALIZED else _S.REGISTERED
    return target


_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_-]*\Z")


@dataclass
class PluginMetadata:
    """What a plugin says about itself.

    ``dependencies`` are PEP 508 requirement strings naming other plugins: ``"base"`` or
    ``"stripe>=1.0,<2"``. ``emits`` (keyword-only) names the events the plugin dispatches
    beyond the core's standard ones (``"loyalty.points_credited"``), so that a listener of
    a misspelt name is caught when it is enabled. Validation happens when the plugin is
    registered, so a plugin can be constructed (and listed) even with bad metadata.
    """

    name: str
    version: str
    author: str
    description: str
    dependencies: list[str] = field(default_factory=list)
    _: KW_ONLY
    emits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.dependencies is None:  # the original design's default
            self.dependencies = []
        elif not isinstance(self.dependencies, list):
            self.dependencies = list(self.dependencies)
        if self.emits is None:
            self.emits = []
        elif isinstance(self.emits, tuple | set | frozenset):  # anything else: validate()
            self.emits = list(self.emits)

    def validate(self) -> None:
        """Raise :class:`InvalidMetadataError` naming the plugin and the first bad field."""
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.version import InvalidVersion, Version

        plugin = self.name if isinstance(self.name, str) else None

        def bad(field_name: str, why: str) -> InvalidMetadataError:
            return InvalidMetadataError(
                f"Plugin {plugin!r}: invalid metadata field {field_name!r}: {why}",
                plugin_name=plugin,
                field=field_name,
            )

        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise bad(
                "name",
                f"{self.name!r} must be lowercase letters, digits, '-' or '_', "
                "starting with a letter",
            )
        if not isinstance(self.version, str):
            raise bad("version", f"{self.version!r} is not a string")
        try:
            Version(self.version)
        except InvalidVersion:
            raise bad("version", f"{self.version!r} is not a PEP 440 version") from None
        for field_name in ("author", "description"):
            if not isinstance(getattr(self, field_name), str):
                raise bad(field_name, f"{getattr(self, field_name)!r} is not a string")
        for dep in self.dependencies:
            try:
                req = Requirement(dep) if isinstance(dep, str) else None
            except InvalidRequirement as exc:
                raise bad("dependencies", f"{dep!r} is not a PEP 508 requirement ({exc})") from None
            if req is None or not _NAME_RE.match(req.name):
                raise bad("dependencies", f"{dep!r} does not name a valid plugin")
            if req.name == self.name:
                raise bad("dependencies", f"{dep!r}: a plugin cannot depend on itself")
        if not isinstance(self.emits, list):
            raise bad("emits", f"{self.emits!r} is not a list of event names")
        for event_name in self.emits:
            try:
                check_event_name(event_name)
            except InvalidListenerError as exc:
                raise bad("emits", str(exc)) from None

    def requirements(self) -> tuple[Requirement, ...]:
        """The parsed dependencies (call :meth:`validate` first)."""
        from packaging.requirements import Requirement

        return tuple(Requirement(dep) for dep in self.dependencies)


class BasePlugin(ABC):
    """Base class for every plugin.

    Subclasses provide :attr:`metadata` (a property or a class attribute) and may
    override the lifecycle hooks :meth:`on_initialize`, :meth:`on_enable`,
    :meth:`on_disable` and :meth:`on_uninstall`. A hook that raises puts the plugin in
    ``ERROR`` with the exception kept in :attr:`error`; initializing again recovers.

    Subclasses that override ``__init__`` without calling ``super().__init__()`` still
    work: every attribute has a class-level default.
    """

    _status: PluginStatus = PluginStatus.DISCOVERED
    _error: BaseException | None = None
    _event_dispatcher: EventDispatcher | None = None

    #: A pydantic model validating this plugin's configuration, or ``None`` for a plain dict.
    config_schema: ClassVar[type[Any] | None] = None

    def __init__(self) -> None:
        self._status = PluginStatus.DISCOVERED
        self._config: dict[str, Any] = {}
        self._error = None

    @property
    @abstractmethod
    def metadata(self) -> PluginMetadata:
        """Return plugin metadata."""

    @property
    def event_dispatcher(self) -> EventDispatcher:
        """The dispatcher of the manager this plugin is registered with.

        Plugins emit events through it (never through a global). Raises
        :class:`PluginStateError` while the plugin is not registered with a manager.
        """
        dispatcher = self._event_dispatcher
        if dispatcher is None:
            name = self._plugin_name()
            raise PluginStateError(
                f"Plugin {name!r} has no event dispatcher: register it with a PluginManager first",
                plugin_name=name,
                status=self.status,
                action="dispatch",
            )
        return dispatcher

    def _attach_dispatcher(self, dispatcher: EventDispatcher | None) -> None:
        """Called by the manager on (un)registration."""
        self._event_dispatcher = dispatcher

    @property
    def status(self) -> PluginStatus:
        """The plugin's current lifecycle status."""
        return self._status

    @property
    def error(self) -> BaseException | None:
        """Why the plugin is in ``ERROR`` (``None`` otherwise)."""
        return self._error

    def _config_dict(self) -> dict[str, Any]:
        # Tolerates subclasses whose __init__ never called ours.
        try:
            return self.__dict__["_config"]  # type: ignore[no-any-return]
        except KeyError:
            config: dict[str, Any] = {}
            self.__dict__["_config"] = config
            return config

    # -- lifecycle ---------------------------------------------------------------

    def initialize(self, config: Mapping[str, Any] | BaseModel | None = None) -> None:
        """Initialize (or re-initialize) with ``config`` and run :meth:`on_initialize`.

        As in the original design an empty or missing ``config`` keeps the current one.
        With a :attr:`config_schema`, an instance of it is taken as is: the manager hands
        over a configuration its resolver already merged with the environment and
        validated. A mapping is validated here, with ``VBWD_<PLUGIN>_<FIELD>`` variables
        winning; a :class:`ConfigValidationError` leaves status and configuration
        unchanged. If the hook raises, the previous configuration is restored.
        """
        previous = self._config_dict()
        previous_model = self.__dict__.get("_config_model")
        schema = type(self).config_schema
        if is_config_schema(schema):
            self._check("initialize")  # an illegal transition wins over a bad config
            name = self._plugin_name()
            if isinstance(config, schema):
                new_model = config  # resolved and validated once, by the manager's resolver
            else:
                new_model = self._validated(name, schema, config, previous_model)
            new = new_model.model_dump()
        else:
            new_model = None
            new = dict(config) if config else previous

        def apply() -> None:
            self.__dict__["_config"] = new
            self.__dict__["_config_model"] = new_model

        def undo() -> None:
            self.__dict__["_config"] = previous
            self.__dict__["_config_model"] = previous_model

        self._transition("initialize", self.on_initialize, apply=apply, undo=undo)

    @staticmethod
    def _validated(
        name: str,
        schema: type[BaseModel],
        config: Mapping[str, Any] | BaseModel | None,
        previous: BaseModel | None,
    ) -> BaseModel:
        """Validate a mapping given directly (not through a manager): environment wins."""
        env = env_config(name, schema)  # VBWD_<PLUGIN>_<FIELD> wins over what is given
        if not config and previous is not None and not env:
            return previous
        if config:
            base = dict(config)
        else:
            base = {} if previous is None else previous.model_dump(by_alias=True)
        return validate_config(name, schema, {**base, **env})

    def enable(self) -> None:
        """Enable the plugin and run :meth:`on_enable`."""
        self._transition("enable", self.on_enable)

    def disable(self) -> None:
        """Disable the plugin and run :meth:`on_disable`."""
        self._transition("disable", self.on_disable)

    def uninstall(self) -> None:
        """Uninstall the plugin and run :meth:`on_uninstall`."""
        self._transition("uninstall", self.on_uninstall)

    def _plugin_name(self) -> str:
        try:
            name = self.metadata.name
        except Exception:  # noqa: BLE001 - a broken metadata property must not hide the real error
            return type(self).__qualname__
        return name if isinstance(name, str) else type(self).__qualname__

    def _check(self, action: str) -> PluginStatus:
        """Return the target status of ``action`` or raise :class:`PluginStateError`."""
        status = self.status
        try:
            return transition_target(action, status)
        except ValueError:
            allowed = sorted(s.value for s in TRANSITIONS[action][0])
            name = self._plugin_name()
            raise PluginStateError(
                f"Cannot {action} plugin {name!r} in {status.value} state "
                f"({action} is allowed from: {', '.join(allowed)})",
                plugin_name=name,
                status=status,
                action=action,
            ) from None

    def _transition(
        self,
        action: str,
        hook: Callable[[], None] | None = None,
        *,
        apply: Callable[[], None] | None = None,
        undo: Callable[[], None] | None = None,
    ) -> None:
        target = self._check(action)
        if apply is not None:
            apply()
        if hook is not None:
            try:
                hook()
            except Exception as exc:
                if undo is not None:
                    undo()
                self._status = PluginStatus.ERROR
                self._error = exc
                name = self._plugin_name()
                hook_name = getattr(hook, "__name__", action)
                raise PluginHookError(
                    f"Plugin {name!r}: {hook_name} failed during {action}: "
                    f"{type(exc).__name__}: {exc}",
                    plugin_name=name,
                    hook=hook_name,
                ) from exc
        self._status = target
        self._error = None

    # -- hooks -------------------------------------------------------------------

    def on_initialize(self) -> None:
        """Hook called when the plugin is initialized; configuration is already set."""

    def on_enable(self) -> None:
        """Hook called when the plugin is enabled."""

    def on_disable(self) -> None:
        """Hook called when the plugin is disabled."""

    def on_uninstall(self) -> None:
        """Hook called when the plugin is uninstalled."""

    # -- configuration -----------------------------------------------------------

    @property
    def config(self) -> BaseModel | Mapping[str, Any] | None:
        """This plugin's configuration: the validated :attr:`config_schema` instance.

        ``None`` until a plugin with a schema is initialized; a read-only mapping for a
        plugin without one. Secret fields stay ``SecretStr`` (``.get_secret_value()``).
        """
        if is_config_schema(type(self).config_schema):
            model: BaseModel | None = self.__dict__.get("_config_model")
            return model
        return MappingProxyType(self._config_dict())

    def get_config(self, key: str, default: Any = None) -> Any:
        """Get a configuration value (a field of the validated model, with a schema)."""
        model: BaseModel | None = self.__dict__.get("_config_model")
        if model is not None and is_config_schema(type(self).config_schema):
            if key in type(model).model_fields:
                return getattr(model, key)
            return (model.model_extra or {}).get(key, default)
        return self._config_dict().get(key, default)

    def set_config(self, key: str, value: Any) -> None:
        """Set a configuration value; with a schema the result is validated first.

        Only this plugin's memory changes: to persist a change, configure the plugin
        through its :class:`PluginManager`.
        """
        schema = type(self).config_schema
        if not is_config_schema(schema):
            self._config_dict()[key] = value
            return
        model: BaseModel | None = self.__dict__.get("_config_model")
        name = self._plugin_name()
        data = {} if model is None else model.model_dump(by_alias=True)
        field_info = schema.model_fields.get(key)
        if field_info is None and schema.model_config.get("extra") != "allow":
            raise ConfigValidationError(
                f"Plugin {name!r}: invalid configuration (1 field): {key}: unknown field",
                plugin_name=name,
                errors={key: "unknown field"},
            )
        alias = field_info.alias if field_info is not None else None
        data[alias if alias is not None else key] = value
        new_model = validate_config(name, schema, data)
        self.__dict__["_config_model"] = new_model
        self.__dict__["_config"] = new_model.model_dump()

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {self._plugin_name()!r} {self.status.value}>"
