"""Plugin configuration: schema validation, environment variables and safe display.

A plugin may declare a pydantic v2 model as :attr:`BasePlugin.config_schema`. This
module validates mappings against it, turns pydantic's errors into one
:class:`ConfigValidationError` that never repeats an input value (pydantic's own messages
and ``str(ValidationError)`` do), reads ``VBWD_<PLUGIN>_<FIELD>`` environment variables,
and renders configuration for display with every secret masked.

Precedence, highest first (see ``docs/configuration.md``)::

    environment variable  >  configuration given now  >  stored configuration  >  schema default

(configuration given now replaces the stored one as a whole; it does not patch it).

Environment variables win so a deployment can pin a value (typically a credential kept
out of the database) and get the same result after every restart; they are never stored.

pydantic is imported on first use: a plugin with a schema has imported it already, and one
without never needs it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import types
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeGuard, Union, get_args, get_origin

from vbwd_plugins._json import parse_json
from vbwd_plugins.config._secrets import is_sealed
from vbwd_plugins.errors import ConfigValidationError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

__all__ = [
    "MASK",
    "config_error",
    "env_config",
    "env_var_name",
    "is_config_schema",
    "merge_config",
    "public_config",
    "validate_config",
]

logger = logging.getLogger(__name__)

#: What a secret looks like wherever configuration is displayed (pydantic's own mask).
MASK: Final = "**********"


@functools.cache
def _templated_errors() -> frozenset[str]:
    """Error types whose message pydantic builds from a template and the schema alone, never
    from the input. ``value_error``, ``assertion_error`` and custom error types carry text
    written by a validator, which may quote the value."""
    from pydantic_core import core_schema

    return frozenset(get_args(core_schema.ErrorType)) - {"value_error", "assertion_error"}


#: Keys that look like credentials in a plugin without a schema (masked on display).
_SECRET_KEY_RE: Final = re.compile(
    r"(?:^|[_\-.])(?:secret|password|passwd|token|api_?key|private_?key|credentials?|key)"
    r"(?:$|[_\-.])",
    re.IGNORECASE,
)

_STRUCTURED: Final = (list, dict, set, frozenset, tuple)


def is_config_schema(obj: object) -> TypeGuard[type[BaseModel]]:
    """Whether ``obj`` is a pydantic model class usable as a configuration schema."""
    if not isinstance(obj, type):
        return False  # ``config_schema = None``: no reason to import pydantic
    from pydantic import BaseModel

    return issubclass(obj, BaseModel)


# -- validation -------------------------------------------------------------------------


def validate_config(
    plugin_name: str, schema: type[BaseModel], data: Mapping[str, Any]
) -> BaseModel:
    """Validate ``data`` against ``schema``; raise :class:`ConfigValidationError` if it fails."""
    from pydantic import ValidationError

    try:
        return schema.model_validate(dict(data))
    except ValidationError as exc:
        # ``from None``: str(ValidationError) lists every input value, secrets included.
        raise config_error(plugin_name, exc) from None


def config_error(plugin_name: str, exc: ValidationError) -> ConfigValidationError:
    """One error naming ``plugin_name`` and every bad field with its reason, no values."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=True):
        where = _format_loc(error["loc"])
        reasons = errors.setdefault(where, [])
        reason = _safe_reason(error["type"], error["msg"], error.get("input"))
        if reason not in reasons:
            reasons.append(reason)
    joined = {where: "; ".join(reasons) for where, reasons in errors.items()}
    details = "; ".join(f"{where}: {reason}" for where, reason in joined.items())
    count = len(joined)
    return ConfigValidationError(
        f"Plugin {plugin_name!r}: invalid configuration "
        f"({count} field{'s' if count != 1 else ''}): {details}",
        plugin_name=plugin_name,
        errors=joined,
    )


def _format_loc(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "(configuration)"
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _safe_reason(error_type: str, msg: str, value: object) -> str:
    """``msg`` with every input value it quotes replaced by the mask ``"**********"``.

    The value is masked, not the message: a value shorter than
    :data:`_MASK_ANYWHERE_LENGTH` only where it stands as a whole word, so input ``u``
    leaves "must be eu or us" readable; a longer one wherever it appears.
    """
    if error_type in _templated_errors():
        return msg
    forms = {form for leaf in _leaves(value) if leaf for form in (leaf, repr(leaf)[1:-1])}
    if not forms:
        return msg
    patterns = [_value_pattern(form) for form in sorted(forms, key=len, reverse=True)]
    return re.sub("|".join(patterns), MASK, msg)


#: Input values at least this long are masked even inside a longer word.
_MASK_ANYWHERE_LENGTH: Final = 6


def _value_pattern(form: str) -> str:
    pattern = re.escape(form)
    if len(form) >= _MASK_ANYWHERE_LENGTH:
        return pattern
    if re.match(r"\w", form[0]):
        pattern = r"(?<!\w)" + pattern
    if re.match(r"\w", form[-1]):
        pattern += r"(?!\w)"
    return pattern


def _leaves(value: object, depth: int = 0) -> Iterator[str]:
    """String forms of the scalars inside ``value`` (what a validator message could quote)."""
    from pydantic import SecretBytes, SecretStr

    if isinstance(value, SecretStr | SecretBytes):
        yield str(value.get_secret_value())
    elif isinstance(value, str | int | float | bytes):
        yield value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    elif depth < 8 and isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(key, depth + 1)
            yield from _leaves(item, depth + 1)
    elif depth < 8 and isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _leaves(item, depth + 1)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


# -- environment ------------------------------------------------------------------------


def env_var_name(plugin_name: str, field: str) -> str:
    """``VBWD_<PLUGIN>_<FIELD>``: ``("stripe", "api_key")`` -> ``VBWD_STRIPE_API_KEY``."""
    return f"VBWD_{plugin_name.upper().replace('-', '_')}_{field.upper()}"


def env_config(
    plugin_name: str,
    schema: type[BaseModel],
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Values for ``schema``'s top-level fields from ``VBWD_<PLUGIN>_<FIELD>`` variables.

    Keys are the schema's input keys (the alias where a field has one). Scalar fields take
    the raw string (pydantic converts it); lists, dicts, sets, tuples and nested models
    take JSON. Only this plugin's own fields are ever read.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    bad: dict[str, str] = {}
    for name, info in schema.model_fields.items():
        var = env_var_name(plugin_name, name)
        raw = environ.get(var)
        if raw is None:
            continue
        key = info.alias if info.alias is not None else name
        if _is_structured(info.annotation):
            try:
                found[key] = parse_json(raw)
            except ValueError:
                bad[name] = f"environment variable {var} is not valid JSON"
        else:
            found[key] = raw
    if bad:
        details = "; ".join(f"{field}: {why}" for field, why in bad.items())
        raise ConfigValidationError(
            f"Plugin {plugin_name!r}: invalid configuration from the environment: {details}",
            plugin_name=plugin_name,
            errors=bad,
        )
    return found


def _is_structured(annotation: object) -> bool:
    from pydantic import BaseModel

    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_structured(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_is_structured(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is not None:
        return isinstance(origin, type) and (
            issubclass(origin, _STRUCTURED) or issubclass(origin, Mapping)
        )
    return isinstance(annotation, type) and (
        issubclass(annotation, (BaseModel, *_STRUCTURED)) or issubclass(annotation, Mapping)
    )


def merge_config(
    plugin_name: str,
    schema: type[BaseModel] | None,
    *,
    stored: Mapping[str, Any] | None = None,
    given: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], frozenset[str]]:
    """Layer the configuration sources; return the mapping to validate and the env keys.

    A non-empty ``given`` replaces ``stored`` (as ``initialize`` always did); an empty or
    missing one keeps ``stored``. A given value equal to the mask ``"**********"`` where a value is
    stored means "unchanged", so a form that round-trips the masked display never
    overwrites a secret with asterisks. Environment values (schema plugins only) override
    both; the returned key set names them so the caller does not store them.
    """
    stored = dict(stored or {})
    if given:
        merged = {
            key: _unmask(plugin_name, key, value, stored.get(key, _ABSENT))
            for key, value in given.items()
        }
    else:
        merged = stored
    if schema is None:
        return merged, frozenset()
    env = env_config(plugin_name, schema, environ)
    for key in env:
        if given and key in given:
            logger.info(
                "Plugin %r: field %r is pinned by its environment variable; "
                "the configured value is ignored",
                plugin_name,
                key,
            )
    merged.update(env)
    return merged, frozenset(env)


_ABSENT: Final = object()


def _unmask(plugin_name: str, path: str, value: Any, stored: Any) -> Any:
    """``value`` with every mask, at any depth, replaced by the stored value at the same place.

    A form that round-trips the masked display (secrets inside lists and objects included)
    keeps its secrets; a mask with nothing stored at its place is refused, so asterisks are
    never stored as a secret.
    """
    if _is_mask(value):
        if stored is _ABSENT:
            raise ConfigValidationError(
                f"Plugin {plugin_name!r}: {path}: the masked value {MASK!r} stands for a stored "
                "secret, and none is stored there; give the secret itself",
                plugin_name=plugin_name,
                errors={path: "masked value with no stored secret"},
            )
        return stored
    if isinstance(value, Mapping):
        inner = stored if isinstance(stored, Mapping) else {}
        return {
            key: _unmask(plugin_name, f"{path}.{key}", item, inner.get(key, _ABSENT))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        items = stored if isinstance(stored, list | tuple) else ()
        return [
            _unmask(
                plugin_name,
                f"{path}[{index}]",
                item,
                items[index] if index < len(items) else _ABSENT,
            )
            for index, item in enumerate(value)
        ]
    return value


def _is_mask(value: object) -> bool:
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, str) and value == MASK


# -- display ----------------------------------------------------------------------------


def public_config(config: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe view of ``config`` with every secret replaced by the mask ``"**********"``.

    Secret fields of a schema (``SecretStr``) are masked; in a plain dict, ``SecretStr``
    values, encrypted stored values and values under credential-like keys (``api_key``,
    ``client_secret``, ``password``, ``token``, ...) are masked. Values that are not JSON
    become ``"<TypeName>"`` rather than their ``repr``.
    """
    if config is None:
        return {}
    from pydantic import BaseModel

    if isinstance(config, BaseModel):
        dumped = config.model_dump(mode="python", by_alias=False)
        return {str(k): _public(v, str(k)) for k, v in dumped.items()}
    return {str(k): _public(v, str(k)) for k, v in config.items()}


def _public(value: object, key: str | None) -> Any:
    from pydantic import BaseModel, SecretBytes, SecretStr
    from pydantic_core import to_jsonable_python

    if isinstance(value, SecretStr | SecretBytes) or is_sealed(value):
        return MASK
    if key is not None and _SECRET_KEY_RE.search(key) and isinstance(value, str | bytes):
        return MASK
    if isinstance(value, BaseModel):
        return public_config(value)
    if isinstance(value, Mapping):
        return {str(k): _public(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_public(v, key) for v in value]
    try:
        return to_jsonable_python(value)
    except Exception:  # noqa: BLE001 - any unserializable value is shown by type only
        return f"<{type(value).__name__}>"
