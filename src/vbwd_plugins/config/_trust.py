"""Fields that decide where secrets go or what is trusted, and the rule that guards them.

Whoever may change a plugin's configuration through the admin API or ``config set`` never
sees its secrets (they are masked). If that person could still point ``api_base`` at their
own server while the masked secret stays in place, the next API call would hand them the
secret. So such fields carry a marker::

    class AcmeConfig(BaseModel):
        api_key: SecretStr
        api_base: BaseURL = "https://api.acme.example"              # guards every secret
        cert_hosts: Annotated[frozenset[str], Trusted("api_key")] = frozenset({...})

and an *operator change* (admin API, CLI) that changes a marked field is refused unless
every secret the marker guards is supplied again in the same change - whoever knows the
secret may send it wherever they like. A secret pinned by the environment cannot be
supplied that way: then the marked field must be pinned by the environment too. Host code
(``PluginManager.configure_plugin`` without ``operator=True``), the environment and the
store are trusted like the deployment itself and are not bound.

:data:`BaseURL` is the type for a provider's base URL: ``https://``, or ``http://`` to a
loopback host only (a fake server in tests, a local proxy), and marked :class:`Trusted`.

Nothing here imports pydantic: the markers hook into it only when a schema is built.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import types
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Annotated, Any, Final, Union, final, get_args, get_origin
from urllib.parse import urlsplit

from vbwd_plugins.config._schema import MASK, env_var_name
from vbwd_plugins.errors import ConfigValidationError

if TYPE_CHECKING:
    from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.fields import FieldInfo
    from pydantic_core import CoreSchema

__all__ = ["BaseURL", "Trusted", "check_base_url", "check_operator_change", "trusted_fields"]

#: Key of the marker in the JSON schema (for admin forms that want to say "re-enter the key").
JSON_SCHEMA_KEY: Final = "x-vbwd-trusted"


@final
class Trusted:
    """Marks a field that decides where secrets go or what is trusted.

    ``Trusted()`` guards every secret field of the schema; ``Trusted("api_key")`` only the
    fields named (any top-level field of the schema). Use it as ``Annotated`` metadata.
    """

    __slots__ = ("guards",)

    def __init__(self, *guards: str) -> None:
        self.guards: Final[tuple[str, ...]] = guards

    def __repr__(self) -> str:
        return f"Trusted({', '.join(map(repr, self.guards))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trusted) and other.guards == self.guards

    def __hash__(self) -> int:
        return hash((Trusted, self.guards))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        """Tell admin forms: changing this needs the guarded secrets again."""
        json_schema: dict[str, Any] = handler(schema)
        json_schema[JSON_SCHEMA_KEY] = {"resupply": list(self.guards) or "secrets"}
        return json_schema


# -- base URLs ------------------------------------------------------------------------------

_BAD_URL_CHARS: Final = re.compile(r"[\x00-\x20\x7f\\]")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """``url`` without its trailing slash if it may receive secrets; else ``ValueError``.

    ``https://`` with a host, or ``http://`` to ``localhost``, ``127.0.0.0/8`` or ``::1``;
    no user-info, query or fragment. Messages never repeat the URL (it may hold a token).
    """
    if not isinstance(url, str) or _BAD_URL_CHARS.search(url):
        raise ValueError("must be an https:// URL without spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("must be an https:// URL with a valid host and port") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("must be an https:// URL such as https://api.example.com")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(
            "must be an https:// URL: plain http:// is accepted only for a loopback host "
            "(localhost, 127.0.0.1, ::1), since secrets are sent to it"
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError("must not contain user-info, a query or a fragment")
    return url.rstrip("/")


@final
class _BaseURLCheck:
    """``Annotated`` metadata running :func:`check_base_url` after ``str`` validation."""

    __slots__ = ()

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(check_base_url, handler(source))


#: A provider's base URL: https (http only to loopback), trailing slash dropped, and
#: :class:`Trusted` (changing it needs every secret again). Use ``BaseURL | None`` for an
#: optional override.
BaseURL = Annotated[str, _BaseURLCheck(), Trusted()]


# -- reading a schema -------------------------------------------------------------------------


@functools.cache
def trusted_fields(schema: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Each marked top-level field of ``schema`` -> the fields it guards (never empty).

    The last :class:`Trusted` of a field wins (``Annotated[BaseURL, Trusted("api_key")]``
    narrows the type's own marker). A schema whose marker names an unknown field, or that
    has a marked field but nothing to guard, is a programming error: ``TypeError``.
    """
    found: dict[str, tuple[str, ...]] = {}
    for name, info in schema.model_fields.items():
        markers = [m for m in _metadata(info) if isinstance(m, Trusted)]
        if not markers:
            continue
        guards = markers[-1].guards or tuple(sorted(secret_fields(schema)))
        unknown = sorted(set(guards) - set(schema.model_fields))
        if unknown:
            raise TypeError(f"{schema.__name__}.{name}: Trusted() names unknown fields {unknown}")
        if not guards:
            raise TypeError(
                f"{schema.__name__}.{name}: Trusted() guards nothing (the schema has no "
                "secret field); name the fields to re-supply, e.g. Trusted('client_id')"
            )
        found[name] = guards
    return found


def _metadata(info: FieldInfo) -> Iterator[object]:
    """The field's ``Annotated`` metadata, also inside ``X | None`` (pydantic only lifts the
    outermost ``Annotated`` into ``FieldInfo.metadata``), innermost first."""
    yield from _annotated(info.annotation)
    yield from info.metadata


def _annotated(annotation: object, depth: int = 0) -> Iterator[object]:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        yield from _annotated(base, depth + 1)
        yield from extra
    elif depth < 4 and (origin is Union or origin is types.UnionType):
        for arg in get_args(annotation):
            yield from _annotated(arg, depth + 1)


@functools.cache
def secret_fields(schema: type[BaseModel]) -> frozenset[str]:
    """Top-level fields of ``schema`` that hold a secret, at any depth of their type."""
    return frozenset(
        name for name, info in schema.model_fields.items() if _holds_secret(info.annotation, 0)
    )


def _holds_secret(annotation: object, depth: int) -> bool:
    from pydantic import BaseModel, SecretBytes, SecretStr

    if depth > 6:
        return False
    if isinstance(annotation, type):
        if issubclass(annotation, SecretStr | SecretBytes):
            return True
        if issubclass(annotation, BaseModel):
            return any(
                _holds_secret(f.annotation, depth + 1) for f in annotation.model_fields.values()
            )
    return any(_holds_secret(arg, depth + 1) for arg in get_args(annotation))


# -- the rule -----------------------------------------------------------------------------------


def check_operator_change(
    plugin_name: str,
    schema: type[BaseModel],
    *,
    base: Mapping[str, Any],
    given: Mapping[str, Any],
    model: BaseModel,
    env_keys: frozenset[str],
) -> None:
    """Refuse an operator change of a :class:`Trusted` field without its secrets.

    ``base`` is the configuration before the change (unsealed), ``given`` what the operator
    sent (masks included), ``model`` the validated result and ``env_keys`` the input keys
    the environment set. Raises :class:`ConfigValidationError` naming the plugin, each
    refused field and the secrets to supply again (or the variables to pin).
    """
    trusted = trusted_fields(schema)
    if not trusted:
        return
    fields = schema.model_fields
    key = {name: info.alias or name for name, info in fields.items()}
    errors: dict[str, str] = {}
    for name, guards in trusted.items():
        if key[name] in env_keys or not _changed(
            fields[name], base.get(key[name], _UNSET), model, name
        ):
            continue
        needed = [g for g in guards if _has_value(getattr(model, g)) and g != name]
        pinned = [g for g in needed if key[g] in env_keys]
        missing = [g for g in needed if key[g] not in env_keys and not _supplied(given, key[g])]
        if pinned:
            variables = ", ".join(env_var_name(plugin_name, g) for g in pinned)
            errors[name] = (
                f"decides where secrets go or what is trusted, and {_names(pinned)} "
                f"{'is' if len(pinned) == 1 else 'are'} pinned by the environment ({variables}): "
                f"pin {name} there too ({env_var_name(plugin_name, name)})"
            )
        elif missing:
            errors[name] = (
                f"decides where secrets go or what is trusted: supply {_names(missing)} again "
                "in the same change (the masked value is not enough), or pin "
                f"{name} with {env_var_name(plugin_name, name)}"
            )
    if errors:
        details = "; ".join(f"{field}: {why}" for field, why in errors.items())
        raise ConfigValidationError(
            f"Plugin {plugin_name!r}: change refused: {details}",
            plugin_name=plugin_name,
            errors=errors,
        )


_UNSET: Final = object()


def _names(fields: list[str]) -> str:
    return ", ".join(fields)


def _changed(info: FieldInfo, before: object, model: BaseModel, name: str) -> bool:
    """Whether the change gives field ``name`` another value than it had (its default when
    it had none). Values are compared as JSON with sets sorted; a value that cannot be
    compared counts as changed."""
    if before is _UNSET:
        before = info.get_default(call_default_factory=True)
    after = getattr(model, name)
    try:
        old, new = _normal(before), _normal(after)
        if isinstance(after, set | frozenset) and isinstance(old, list):
            old = sorted(old, key=repr)  # stored as a JSON list
        return bool(old != new)
    except Exception:  # noqa: BLE001 - refusing is the safe answer
        return True


def _normal(value: object) -> Any:
    from pydantic import SecretBytes, SecretStr
    from pydantic_core import to_jsonable_python

    if isinstance(value, SecretStr | SecretBytes):
        return ("secret", value.get_secret_value())
    if isinstance(value, set | frozenset):
        return sorted((_normal(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [_normal(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, PurePath):
        return str(value)
    return to_jsonable_python(value)


def _has_value(value: object) -> bool:
    """Whether a guarded field holds something that could be sent (unset, empty: no)."""
    if isinstance(value, str | bytes | list | tuple | set | frozenset | Mapping):
        return bool(value)
    return value is not None


def _supplied(given: Mapping[str, Any], key: str) -> bool:
    """Whether the change gives ``key`` a value of its own (not the mask, nor one inside)."""
    return key in given and not _contains_mask(given[key])


def _contains_mask(value: object) -> bool:
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        return value == MASK
    if isinstance(value, Mapping):
        return any(_contains_mask(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_contains_mask(item) for item in value)
    return False
