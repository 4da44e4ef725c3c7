"""The one configuration pipeline: unseal → environment → merge → validate → mask.

Every path that turns configuration into a plugin's settings goes through
:class:`ConfigResolver`: the manager when a plugin is initialized or reconfigured, the
reconciler when it applies another process's change, the admin API, and the CLI's
``config set``, ``config show`` and ``doctor``. So one decision - precedence, masks, what
is never stored - has one implementation, and one resolution reads the environment once
and validates once. The resolver never touches a store: its caller reads the record and
writes what :meth:`ConfigResolver.seal` returns.

Precedence, highest first::

    environment variable  >  configuration given now  >  stored configuration  >  schema default

An operator change (admin API, CLI) is also held to the rule of
:mod:`vbwd_plugins.config._trust`: a field that decides where secrets go changes only with
those secrets given again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vbwd_plugins.config._schema import (
    env_config,
    is_config_schema,
    merge_config,
    public_config,
    validate_config,
)
from vbwd_plugins.config._secrets import (
    FernetSecretBox,
    SecretBox,
    has_sealed,
    seal_secrets,
    unseal_secrets,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["ConfigResolver", "ResolvedConfig"]


@dataclass(frozen=True, slots=True)
class ResolvedConfig:
    """One resolved configuration: what a plugin is initialized with.

    ``model`` is the validated schema instance (``None`` for a plugin without a schema);
    ``env_keys`` name the fields the environment set, which are never stored.
    """

    plugin_name: str
    #: The merged mapping before validation; secrets in plaintext, so never shown.
    values: dict[str, Any] = field(repr=False)
    model: BaseModel | None
    env_keys: frozenset[str]

    @property
    def config(self) -> BaseModel | dict[str, Any]:
        """What ``BasePlugin.initialize`` receives: the model, or the plain mapping."""
        return self.values if self.model is None else self.model


class ConfigResolver:
    """Resolves, seals and masks plugin configuration; stateless apart from its secret box.

    ``box`` decrypts stored secrets and encrypts new ones; by default a
    :class:`FernetSecretBox` with the keys of ``VBWD_PLUGINS_SECRET_KEYS``, created the
    first time a secret needs it. ``environ`` defaults to ``os.environ``, read at each
    resolution.
    """

    def __init__(
        self, box: SecretBox | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self._box = box
        self._environ = environ

    @property
    def box(self) -> SecretBox:
        """The secret box (created from the environment on first use)."""
        if self._box is None:
            self._box = FernetSecretBox.from_env()
        return self._box

    # -- unseal, environment, merge, validate ------------------------------------------------

    def unseal(self, name: str, stored: Mapping[str, Any] | None) -> dict[str, Any]:
        """The stored configuration with every sealed secret decrypted into a ``SecretStr``."""
        if not stored:
            return {}
        if not has_sealed(stored):
            return dict(stored)
        values: dict[str, Any] = unseal_secrets(dict(stored), self.box, plugin_name=name)
        return values

    def resolve(
        self,
        name: str,
        schema: object,
        *,
        stored: Mapping[str, Any] | None = None,
        current: BaseModel | Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
        patch: bool = False,
        operator: bool = False,
    ) -> ResolvedConfig:
        """Resolve ``name``'s configuration once: one environment read, one validation.

        The base is ``stored`` (a record's configuration, sealed) when there is one, else
        ``current`` (the configuration the plugin holds in memory). A non-empty ``given``
        replaces the base as a whole, or with ``patch`` only changes the fields it names; a
        given value equal to the mask keeps the base's value (a form round-tripping the
        masked view never overwrites a secret). Environment values win over all of it.
        ``schema`` is the plugin's ``config_schema``; anything but a pydantic model class
        means a plain mapping, which is neither validated nor read from the environment.

        ``operator`` marks a change made by a person through the admin API or the CLI: a
        change of a :class:`~vbwd_plugins.config.Trusted` field (where secrets go, what is
        trusted) is then refused unless the secrets it guards are given again (see
        ``docs/secrets.md``). Host code, the environment and the store are not bound.

        Raises :class:`SecretsError` when a stored secret cannot be decrypted and
        :class:`ConfigValidationError` when the result fails the schema or the rule above.
        """
        base = self.unseal(name, stored) if stored is not None else _plain(current)
        sent = dict(given or {})
        if patch:
            given = {**base, **sent}
        model_schema = schema if is_config_schema(schema) else None
        values, env_keys = merge_config(
            name, model_schema, stored=base, given=given, environ=self._environ
        )
        if model_schema is None:
            return ResolvedConfig(name, values, None, env_keys)
        model = validate_config(name, model_schema, values)
        if operator:
            from vbwd_plugins.config._trust import check_operator_change  # operator changes only

            check_operator_change(
                name, model_schema, base=base, given=sent, model=model, env_keys=env_keys
            )
        return ResolvedConfig(name, values, model, env_keys)

    @staticmethod
    def differs(resolved: ResolvedConfig, current: BaseModel | Mapping[str, Any] | None) -> bool:
        """Whether initializing with ``resolved`` would change configuration ``current``."""
        if resolved.model is not None:
            return resolved.model != current
        return current is None or resolved.values != dict(current)

    def env_keys(self, name: str, schema: object) -> frozenset[str]:
        """The fields the environment sets for a plugin with ``schema``."""
        if not is_config_schema(schema):
            return frozenset()
        return frozenset(env_config(name, schema, self._environ))

    # -- seal and mask -----------------------------------------------------------------------

    def seal(
        self,
        name: str,
        config: BaseModel | Mapping[str, Any] | None,
        *,
        env_keys: frozenset[str],
        previous: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """``config`` as stored: JSON, secrets sealed, without values from the environment.

        A field the environment pins keeps what ``previous`` (the stored configuration)
        held for it, so unpinning it later brings that value back.
        """
        data = {k: v for k, v in _plain(config).items() if k not in env_keys}
        sealed: dict[str, Any] = seal_secrets(data, self.box, plugin_name=name)
        for key in env_keys:
            if previous is not None and key in previous:
                sealed[key] = previous[key]
        return sealed

    @staticmethod
    def public(config: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
        """The public view: JSON-safe, every secret (plain or sealed) masked."""
        return public_config(config)


def _plain(config: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    """A configuration as a mapping of input keys (aliases), secrets still ``SecretStr``."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    data: dict[str, Any] = config.model_dump(by_alias=True)
    return data
