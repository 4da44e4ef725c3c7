"""A plugin's configuration schema as ``show`` and ``config show`` print it: what an operator
must know before the first ``config set`` (every field, its type, default, whether it is
required, secret or trusted, and the environment variable that can supply it)."""

from __future__ import annotations

import json
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import SecretBytes, SecretStr

from vbwd_plugins.cli._common import out, print_table
from vbwd_plugins.config._schema import MASK, env_var_name, is_config_schema
from vbwd_plugins.config._trust import secret_fields, trusted_fields

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["print_fields", "schema_fields"]


def _type_name(annotation: object) -> str:
    """``str``, ``int | None``, ``list[SecretStr]``: the annotation as a reader writes it
    (``Annotated`` checks left out)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is None or annotation is NoneType:
        return "None"
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Union or origin is UnionType:
        return " | ".join(_type_name(arg) for arg in args)
    if origin is Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(arg) for arg in args)}]" if args else name
    return getattr(annotation, "__name__", str(annotation))


def _json_default(value: object) -> Any:
    """A default as JSON shows it (secrets masked, sets as sorted lists, the rest as text)."""
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, set | frozenset):
        return sorted(_json_default(item) for item in value)
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return str(value)


def schema_fields(plugin_name: str, schema: object) -> list[dict[str, Any]] | None:
    """One dict per top-level field of ``schema``; ``None`` when it is no pydantic model
    (a plugin taking a plain dict, or none at all)."""
    if not is_config_schema(schema):
        return None
    model: type[BaseModel] = schema
    secrets = secret_fields(model)
    try:
        trusted = trusted_fields(model)
    except TypeError:  # a broken marker is the plugin's bug; doctor reports load errors
        trusted = {}
    rows: list[dict[str, Any]] = []
    for name, info in model.model_fields.items():
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        rows.append(
            {
                "field": info.alias or name,
                "type": _type_name(info.annotation),
                "required": required,
                "default": None if required else _json_default(default),
                "secret": name in secrets,
                "trusted": name in trusted,
                "guards": list(trusted.get(name, ())),
                "env": env_var_name(plugin_name, name),
                "description": info.description,
            }
        )
    return rows


def print_fields(fields: list[dict[str, Any]] | None, indent: str = "  ") -> None:
    """``fields`` as a table, or a line saying the plugin has no schema."""
    if fields is None:
        out(f"{indent}(no schema: the plugin takes any JSON object, or no configuration)")
        return
    if not fields:
        out(f"{indent}(none: the plugin takes no configuration)")
        return
    table = [("FIELD", "TYPE", "REQUIRED", "DEFAULT", "SECRET", "TRUSTED", "ENVIRONMENT", "")]
    for field in fields:
        trusted = "-"
        if field["trusted"]:
            trusted = f"yes (with {', '.join(field['guards'])})" if field["guards"] else "yes"
        table.append(
            (
                indent + field["field"],
                field["type"],
                "yes" if field["required"] else "-",
                "-" if field["required"] else json.dumps(field["default"]),
                "yes" if field["secret"] else "-",
                trusted,
                field["env"],
                field["description"] or "",
            )
        )
    header = table[0]
    table[0] = (indent + header[0], *header[1:])
    print_table(table)
