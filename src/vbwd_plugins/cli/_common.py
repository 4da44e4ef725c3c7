"""What every command uses: output, one-line errors, the store it works on, and the host's
code (``--celery MODULE:APP``, ``--factory MODULE:FUNC``) that runs deliveries.

Building the parser imports this module and nothing heavier: a store, the manager and the
commands load when a command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pathlib import Path

    from vbwd_plugins.delivery._engine import DeliveryEngine
    from vbwd_plugins.delivery._outbox import Outbox
    from vbwd_plugins.plugins._manager import PluginManager
    from vbwd_plugins.stores._base import PluginRecord, StateStore

#: Store URL or SQLite path for every command (``--store`` wins).
ENV_STORE: Final = "VBWD_PLUGINS_STORE"
#: Bearer token that opens the admin API of ``vbwd-plugins serve``.
ENV_ADMIN_TOKEN: Final = "VBWD_ADMIN_TOKEN"
#: PostgreSQL schema of the store (``--pg-schema`` wins).
ENV_PG_SCHEMA: Final = "VBWD_PLUGINS_PG_SCHEMA"

ENV_SQLITE_PATH: Final = "VBWD_PLUGINS_SQLITE_PATH"
DEFAULT_SQLITE_PATH: Final = "vbwd-plugins.sqlite3"

_DURATION: Final = re.compile(r"(\d+)\s*([smhdw])\Z")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class CLIError(Exception):
    """A problem the command reports in one line (exit status 1)."""


# -- the library's errors in the CLI's words -------------------------------------------------

#: The library's advice names Python calls; the CLI names its own commands and flags.
_PYTHON_ADVICE: Final = re.compile(r"\(CLI: (.*?); Python: [^()]*(?:\([^()]*\)[^()]*)*\)")
_REWORDED: Final = (
    ("until rotate_keys() has run", "until `vbwd-plugins keys rotate` has run"),
    ("with FernetSecretBox.generate_key()", "with `vbwd-plugins keys generate`"),
    ("(not registered or installed)", "(not installed)"),
    ("rotate_keys() needs", "`vbwd-plugins keys rotate` needs"),
)


def cli_message(exc: BaseException) -> str:
    """``exc``'s message as the CLI says it: its own commands and flags, not Python names.

    The library's errors carry their context (``plugin_name``, ``dependents``, ...), so the
    advice is rebuilt here rather than the library knowing about the CLI.
    """
    from vbwd_plugins.errors import (
        ConfigValidationError,
        DependencyCycleError,
        DependencyError,
        DependentsEnabledError,
        SecretsError,
    )

    name = getattr(exc, "plugin_name", None)
    if isinstance(exc, DependentsEnabledError) and name:
        return (
            f"Cannot disable plugin '{name}': enabled plugins {', '.join(exc.dependents)} "
            f"depend on it; disable them first, or all of them with "
            f"`vbwd-plugins disable {name} --cascade`"
        )
    text = _PYTHON_ADVICE.sub(r"(\1)", str(exc))
    for python, cli in _REWORDED:
        text = text.replace(python, cli)
    if (
        isinstance(exc, DependencyError)
        and not isinstance(exc, DependencyCycleError)
        and name
        and exc.found_version is None
        and "not enabled" in text
        and "--with-dependencies" not in text
    ):
        command = f"vbwd-plugins enable {name} --with-dependencies"
        text += f" (to enable its dependencies too: `{command}`)"
    elif isinstance(exc, ConfigValidationError) and name:
        text += (
            f" (its fields: `vbwd-plugins config show {name}`; set them: "
            f"`vbwd-plugins config set {name} key=value ...`)"
        )
    elif isinstance(exc, SecretsError) and "no encryption key is configured" in text:
        text += "; create a key with `vbwd-plugins keys generate`"
    return text


def out(line: str = "") -> None:
    """Print a line of results to stdout."""
    print(line, flush=True)


def err(line: str) -> None:
    """Print a warning or error line to stderr."""
    print(line, file=sys.stderr, flush=True)


#: Longest duration accepted (the stores' timestamps cannot reach back much further).
MAX_DURATION: Final = timedelta(days=36_500)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``3600s``, ``2w`` -> a timedelta longer than 0 and at most
    100 years (``36500d``): ``0s`` is almost always a slip (purging events just processed
    would let a provider's retry of them through again)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 30d, 12h, 90m, 3600s or 2w"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is no time at all; give at least 1s")
    if seconds > MAX_DURATION.total_seconds():
        raise argparse.ArgumentTypeError(f"{text!r} is longer than 100 years (36500d)")
    return timedelta(seconds=seconds)


# -- the store -------------------------------------------------------------------------------


def store_location(store: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The store a command uses: ``store``, ``$VBWD_PLUGINS_STORE``, the SQLite default."""
    environ = os.environ if environ is None else environ
    return store or environ.get(ENV_STORE) or environ.get(ENV_SQLITE_PATH) or DEFAULT_SQLITE_PATH


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def sqlite_path(location: str) -> Path:
    from pathlib import Path

    if location.startswith("sqlite:///"):
        return Path(location.removeprefix("sqlite:///"))
    if "://" in location:
        raise CLIError(
            f"unsupported store {location.split('://', 1)[0]}://...: use a SQLite path or "
            "a postgresql:// URL"
        )
    return Path(location)


def open_store(args: argparse.Namespace, *, create: bool) -> StateStore | None:
    """Open the store; ``None`` when it is a SQLite file that does not exist and
    ``create`` is false (read-only commands never create it)."""
    location = store_location(args.store)
    if is_postgres(location):
        from vbwd_plugins.stores.postgres import PostgresStateStore

        return PostgresStateStore(location, schema=args.pg_schema)
    path = sqlite_path(location)
    if not create and not path.exists():
        return None
    from vbwd_plugins.stores.sqlite import SQLiteStateStore

    return SQLiteStateStore(path)


def describe_store(args: argparse.Namespace) -> str:
    location = store_location(args.store)
    if is_postgres(location):
        return f"PostgreSQL (schema {args.pg_schema})"
    return f"SQLite file {str(sqlite_path(location))!r}"


@contextmanager
def store_of(args: argparse.Namespace, *, create: bool) -> Iterator[StateStore | None]:
    store = open_store(args, create=create)
    try:
        yield store
    finally:
        if store is not None:
            store.close()


def started(args: argparse.Namespace, store: StateStore) -> PluginManager:
    """A manager on ``store`` with the recorded state restored; start failures are warned."""
    from vbwd_plugins.plugins._manager import PluginManager

    manager = PluginManager(group=args.group, store=store)
    manager.discover()
    # Each failure is printed once, below; the store's own log line of it would repeat it.
    reconciler = logging.getLogger("vbwd_plugins.plugins._reconciler")
    reconciler.addFilter(_reported_below)
    try:
        report = manager.start()
    finally:
        reconciler.removeFilter(_reported_below)
    for name, exc in sorted(report.failed.items()):
        err(f"warning: plugin {name!r} did not start: {cli_message(exc)}")
    return manager


def _reported_below(record: logging.LogRecord) -> bool:
    """Drop the one-line error a failed start logs (tracebacks of other failures pass)."""
    return record.levelno < logging.ERROR or record.exc_info is not None


def outbox_of(store: StateStore) -> Outbox:
    """``store`` as an outbox (where deliveries are recorded), or a one-line error."""
    from vbwd_plugins.admin._deliveries import outbox_of as admin_outbox_of
    from vbwd_plugins.errors import StoreError

    try:
        return admin_outbox_of(store)
    except StoreError as exc:
        raise CLIError(str(exc)) from None


# -- the host's code: where deliveries run ---------------------------------------------------


def load_object(spec: str, option: str) -> object:
    """The object ``MODULE:NAME`` names (``NAME`` may be dotted)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CLIError(f"{option} {spec!r}: give MODULE:NAME, e.g. {option} myapp.tasks:app")
    try:
        value: object = import_module(module_name)
    except ImportError as exc:
        raise CLIError(f"{option} {spec!r}: cannot import {module_name!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CLIError(f"{option} {spec!r}: {module_name!r} has no {attribute!r}") from None
    return value


def celery_engine(spec: str) -> DeliveryEngine:
    """An engine that enqueues deliveries on the host's Celery app (``--celery MODULE:APP``)."""
    try:
        from vbwd_plugins.delivery.celery import CeleryEngine
    except ImportError as exc:
        raise CLIError(
            f"--celery needs Celery ({exc.name} is missing): pip install 'vbwd-plugins[celery]'"
        ) from None
    return CeleryEngine(load_object(spec, "--celery"))  # type: ignore[arg-type]


def host_manager(spec: str) -> PluginManager:
    """The manager the host's factory builds (``--factory MODULE:FUNC``): its listeners."""
    from vbwd_plugins.plugins._manager import PluginManager

    factory = load_object(spec, "--factory")
    if not callable(factory):
        raise CLIError(f"--factory {spec!r} is not callable: name a function returning a manager")
    manager = factory()
    if not isinstance(manager, PluginManager):
        raise CLIError(f"--factory {spec!r} returned {type(manager).__name__}, not a PluginManager")
    return manager


def records_of(store: StateStore | None) -> dict[str, PluginRecord]:
    return {} if store is None else {r.plugin_name: r for r in store.list()}


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_config(config: Mapping[str, Any], indent: str = "  ") -> None:
    if not config:
        out(f"{indent}(none)")
    for key, value in config.items():
        out(f"{indent}{key}: {json.dumps(value)}")
