"""The configuration form: fields generated from a plugin's pydantic schema, and back.

Each top-level field of the schema becomes one input: a checkbox, a number, a select (a
``Literal`` or an ``Enum``), a text box, or a JSON text area for lists, dicts and nested
models. A field holding a secret at any depth is a write-only password box: its value,
even masked, is never put in the page; left empty it keeps the stored secret. A field the
environment pins (``VBWD_<PLUGIN>_<FIELD>``) is shown read-only and never sent. Only the
fields the operator changed are sent to :meth:`PluginAdmin.update_config`, so an unchanged
:class:`~vbwd_plugins.config.Trusted` field never asks for the secrets again.
"""

from __future__ import annotations

import enum
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from vbwd_plugins.config._schema import env_var_name
from vbwd_plugins.config._trust import secret_fields, trusted_fields

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

__all__ = ["FormField", "form_fields", "form_values"]

Kind = Literal["checkbox", "integer", "number", "select", "text", "json", "secret"]


@dataclass(slots=True)
class FormField:
    """One input of a configuration form, ready for the template."""

    name: str
    key: str
    label: str
    kind: Kind
    required: bool
    optional: bool
    description: str | None = None
    default: str | None = None
    choices: tuple[str, ...] = ()
    #: The current value as the input shows it ("" for a secret: never sent to a browser).
    value: str = ""
    checked: bool = False
    #: A secret field that holds a value (the page says "set", never what).
    is_set: bool = False
    #: The environment variable that pins this field (shown read-only).
    pinned: str | None = None
    #: The secrets to supply again when this field changes.
    resupply: tuple[str, ...] = ()
    #: What an emptied input sends: the default (JSON-able), or ``None`` without one.
    reset: Any = None
    errors: list[str] = field(default_factory=list)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``Annotated`` and ``None``, and whether ``None`` is allowed."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is types.UnionType:
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, optional
            annotation = args[0]
        else:
            return annotation, optional


def _kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    if get_origin(annotation) is Literal:
        return "select", tuple(str(arg) for arg in get_args(annotation))
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return "checkbox", ()
        if issubclass(annotation, enum.Enum):
            return "select", tuple(str(member.value) for member in annotation)
        if issubclass(annotation, int):
            return "integer", ()
        if issubclass(annotation, float):
            return "number", ()
        if issubclass(annotation, str):
            return "text", ()
    return "json", ()


def _display(kind: Kind, value: Any) -> str:
    """How an input shows ``value`` (also what an unchanged submission sends back)."""
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _default(info: FieldInfo) -> Any:
    from pydantic_core import PydanticUndefined, to_jsonable_python

    if info.default is not PydanticUndefined:
        return to_jsonable_python(info.default)
    if info.default_factory is not None:
        return to_jsonable_python(info.get_default(call_default_factory=True))
    return PydanticUndefined


def form_fields(
    plugin_name: str,
    schema: type[BaseModel],
    current: Mapping[str, Any],
    *,
    pinned: Mapping[str, Any] | None = None,
) -> list[FormField]:
    """The inputs for ``schema``; ``current`` is the public (masked) configuration and
    ``pinned`` the values the environment sets (by input key), shown in their place."""
    from pydantic_core import PydanticUndefined

    secrets = secret_fields(schema)
    trusted = trusted_fields(schema)
    pinned = pinned or {}
    fields: list[FormField] = []
    for name, info in schema.model_fields.items():
        key = info.alias or name
        annotation, optional = _unwrap(info.annotation)
        kind, choices = ("secret", ()) if name in secrets else _kind(annotation)
        default = _default(info)
        value = pinned[key] if key in pinned else current.get(name, current.get(key))
        one = FormField(
            name=name,
            key=key,
            label=info.title or name,
            kind=kind,
            required=info.is_required(),
            optional=optional,
            description=info.description,
            default=None
            if default is PydanticUndefined or kind == "secret"
            else _display(kind, default) or '""',
            choices=choices,
            pinned=env_var_name(plugin_name, name) if key in pinned else None,
            resupply=tuple(g for g in trusted.get(name, ()) if g != name),
            reset=None if default is PydanticUndefined else default,
        )
        if kind == "secret":
            one.is_set = value not in (None, "", [], {})
        elif kind == "checkbox":
            one.checked = value is True or str(value).lower() in ("true", "1", "yes", "on")
        else:
            one.value = _display(kind, value)
        fields.append(one)
    return fields


def form_values(
    fields: list[FormField], form: Mapping[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The changes a submitted form asks for, and errors found before validation.

    Each field's submitted text is kept on it (``value``) so that a refused form shows
    what the operator typed - except secrets, which are never shown.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for one in fields:
        if one.pinned is not None or one.key not in form:
            continue  # a field the form did not send is left as it is
        given = form[one.key]
        if one.kind == "checkbox":
            checked = "true" in given
            if checked != one.checked:
                values[one.key] = checked
            one.checked = checked
            continue
        raw = given[-1].replace("\r\n", "\n") if given else ""
        if one.kind == "secret":
            if raw:
                values[one.key] = raw if not raw.lstrip().startswith(("{", "[")) else _json(raw)
            continue
        unchanged = raw == one.value
        one.value = raw
        if unchanged:
            continue
        if not raw.strip():
            values[one.key] = None if one.optional else one.reset
            continue
        if one.kind == "json":
            try:
                values[one.key] = json.loads(raw)
            except json.JSONDecodeError as exc:
                errors[one.key] = f"is not valid JSON ({exc.msg}, line {exc.lineno})"
            continue
        values[one.key] = raw
    return values, errors


def _json(raw: str) -> Any:
    """A structured secret (a nested model holding one) is typed as JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw
