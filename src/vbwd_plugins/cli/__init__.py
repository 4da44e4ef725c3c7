"""The ``vbwd-plugins`` command: inspect and manage plugins, the webhook inbox, deliveries and keys.

State lives in a store, chosen by ``--store``, else ``$VBWD_PLUGINS_STORE``, else the
SQLite file ``$VBWD_PLUGINS_SQLITE_PATH`` or ``./vbwd-plugins.sqlite3``. A
``postgresql://`` URL selects PostgreSQL (schema ``--pg-schema``). Read-only commands
never create the SQLite file. Every change goes through :class:`PluginManager`, which
restores the recorded state first (``start()``) and writes through to the store.

Errors print one line (``error: ...``) and exit 1; ``-vv`` adds tracebacks.

Building the parser imports no command: each command's module (and the store, the admin
service or the web adapters it needs) is imported when the command runs, so ``--help``
costs little more than ``import vbwd_plugins``.
"""

from __future__ import annotations

import argparse
import logging
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module
from typing import TYPE_CHECKING, Any

from vbwd_plugins.cli._common import (
    DEFAULT_SQLITE_PATH,
    ENV_ADMIN_TOKEN,
    ENV_PG_SCHEMA,
    ENV_SQLITE_PATH,
    ENV_STORE,
    CLIError,
    cli_message,
    err,
    parse_duration,
    store_location,
)
from vbwd_plugins.errors import PluginError
from vbwd_plugins.plugins._discovery import DEFAULT_GROUP

if TYPE_CHECKING:
    from vbwd_plugins.cli._plugins import parse_assignment as parse_assignment

__all__ = [
    "ENV_ADMIN_TOKEN",
    "ENV_STORE",
    "build_parser",
    "main",
    "parse_assignment",
    "parse_duration",
    "store_location",
]


# -- parser and entry point ------------------------------------------------------------------

_UNFINISHED_HELP = "webhooks with a delivery not succeeded (pending, running or dead)"

Command = Callable[[argparse.Namespace], int]


def _lazy(module: str, name: str) -> Command:
    """The command ``name`` of ``vbwd_plugins.cli.<module>``, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        command: Command = getattr(import_module(f"vbwd_plugins.cli.{module}"), name)
        return command(args)

    run.__name__ = run.__qualname__ = name
    return run


class _VersionAction(argparse.Action):
    """``--version``: the version of the code running (read only when asked for)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        import sys

        from vbwd_plugins import __version__

        sys.stdout.write(f"{parser.prog} {__version__}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="vbwd-plugins", description="Inspect and manage vbwd plugins."
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    parser.add_argument(
        "--group", default=DEFAULT_GROUP, help="entry-point group (default: %(default)s)"
    )
    parser.add_argument(
        "--store",
        help=f"SQLite path or postgresql:// URL (default: ${ENV_STORE}, "
        f"${ENV_SQLITE_PATH}, or ./{DEFAULT_SQLITE_PATH})",
    )
    parser.add_argument(
        "--pg-schema",
        default=os.environ.get(ENV_PG_SCHEMA, "vbwd_plugins"),
        help="PostgreSQL schema of the store (default: $VBWD_PLUGINS_PG_SCHEMA or %(default)s)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv: with tracebacks)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Command, help_text: str) -> Any:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    def json_flag(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print JSON")

    json_flag(
        command(
            "list",
            _lazy("_plugins", "cmd_list"),
            "installed plugins, none imported: distribution, version, status, dependencies",
        )
    )
    command("order", _lazy("_plugins", "cmd_order"), "start order of the installed plugins")
    show = command(
        "show",
        _lazy("_plugins", "cmd_show"),
        "one plugin: metadata, status and configuration (masked)",
    )
    show.add_argument("name")
    json_flag(show)
    enable = command(
        "enable",
        _lazy("_plugins", "cmd_enable"),
        "enable a plugin (its dependencies must be enabled)",
    )
    enable.add_argument("name")
    enable.add_argument(
        "--with-dependencies", action="store_true", help="enable its dependencies first"
    )
    disable = command(
        "disable",
        _lazy("_plugins", "cmd_disable"),
        "disable a plugin (refused while others need it)",
    )
    disable.add_argument("name")
    disable.add_argument("--cascade", action="store_true", help="disable its dependents first")

    config = commands.add_parser("config", help="show or change a plugin's configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_show = config_commands.add_parser("show", help="configuration, secrets masked")
    config_show.set_defaults(func=_lazy("_plugins", "cmd_config_show"))
    config_show.add_argument("name")
    json_flag(config_show)
    config_set = config_commands.add_parser(
        "set",
        help="validate and store configuration (secrets encrypted)",
        description="key=value sets a string, key:=json any JSON value, key=@file the text "
        "of a file (key=@- reads stdin; keeps secrets out of the shell history).",
    )
    config_set.set_defaults(func=_lazy("_plugins", "cmd_config_set"))
    config_set.add_argument("name")
    config_set.add_argument("assignments", nargs="+", metavar="key=value")
    config_set.add_argument(
        "--replace", action="store_true", help="replace the whole configuration"
    )

    command(
        "doctor",
        _lazy("_plugins", "cmd_doctor"),
        "check plugins load, metadata, dependencies, name conflicts and stored secrets",
    )

    inbox = commands.add_parser("inbox", help="the webhook inbox: list, replay, purge")
    inbox_commands = inbox.add_subparsers(dest="inbox_command", required=True, metavar="ACTION")
    inbox_list = inbox_commands.add_parser(
        "list", help="received webhook events, newest first, with their deliveries"
    )
    inbox_list.set_defaults(func=_lazy("_ops", "cmd_inbox_list"))
    which = inbox_list.add_mutually_exclusive_group()
    which.add_argument(
        "--status",
        choices=["recorded", "processing", "processed", "failed"],
        help="the inbox row's status (webhooks recorded with their deliveries: recorded)",
    )
    which.add_argument("--unfinished", action="store_true", help=_UNFINISHED_HELP)
    inbox_list.add_argument("--provider")
    inbox_list.add_argument("--limit", type=int, default=50)
    json_flag(inbox_list)
    replay = inbox_commands.add_parser(
        "replay",
        help="run again the deliveries of webhooks that did not succeed",
        description="Run again the deliveries of webhooks that did not succeed (dead ones "
        "included; succeeded ones never). Host listeners need --celery or --factory.",
    )
    replay.set_defaults(func=_lazy("_ops", "cmd_inbox_replay"))
    replay.add_argument("provider", nargs="?")
    replay.add_argument("event_ids", nargs="*", metavar="EVENT_ID")
    replay.add_argument("--unfinished", action="store_true", help=_UNFINISHED_HELP)
    replay.add_argument("--limit", type=int, default=1000)
    _runner_options(replay)
    purge = inbox_commands.add_parser("purge", help="delete old processed events")
    purge.set_defaults(func=_lazy("_ops", "cmd_inbox_purge"))
    purge.add_argument(
        "--older-than", type=parse_duration, required=True, help="age such as 30d, 12h"
    )

    _deliveries_parser(commands, json_flag)

    keys = commands.add_parser("keys", help="encryption keys of stored secrets")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    keys_commands.add_parser(
        "rotate", help="re-encrypt stored secrets with the first key of VBWD_PLUGINS_SECRET_KEYS"
    ).set_defaults(func=_lazy("_ops", "cmd_keys_rotate"))
    keys_commands.add_parser("generate", help="print a new key").set_defaults(
        func=_lazy("_ops", "cmd_keys_generate")
    )

    serve = command(
        "serve", _lazy("_ops", "cmd_serve"), "serve the admin API and webhook routes over HTTP"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument("--admin-prefix", default="/admin/plugins")
    serve.add_argument("--webhook-prefix", default="/webhooks")
    serve.add_argument(
        "--metrics", action="store_true", help="serve GET /metrics for Prometheus (bearer token)"
    )
    return parser


def _deliveries_parser(commands: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    """``deliveries list|show|retry|purge|sweep`` (``vbwd_plugins.cli._deliveries``)."""
    parent = commands.add_parser("deliveries", help="each listener's deliveries of each event")
    actions = parent.add_subparsers(dest="deliveries_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, description: str | None = None) -> Any:
        sub = actions.add_parser(name, help=help_text, description=description or help_text)
        sub.set_defaults(func=_lazy("_deliveries", f"cmd_{name}"))
        return sub

    listing = action("list", "deliveries, most recently updated first")
    listing.add_argument("--status", choices=["pending", "running", "succeeded", "dead"])
    listing.add_argument("--event", metavar="NAME", help="event name, e.g. payment.completed")
    listing.add_argument("--listener", metavar="ID", help="listener id")
    listing.add_argument("--limit", type=int, default=50)
    json_flag(listing)
    show = action("show", "one delivery and its event")
    show.add_argument("delivery_id", metavar="ID")
    json_flag(show)
    retry = action(
        "retry",
        "make deliveries due again: one, a listener's dead ones, or all dead ones",
        "Make deliveries due again; without --celery or --factory they run at the next sweep.",
    )
    retry.add_argument("delivery_id", nargs="?", metavar="ID")
    retry.add_argument("--listener", metavar="ID", help="every dead delivery of this listener")
    retry.add_argument("--all-dead", action="store_true", help="every dead delivery")
    _runner_options(retry)
    json_flag(retry)
    purge = action("purge", "delete old succeeded deliveries")
    purge.add_argument(
        "--older-than", type=parse_duration, required=True, help="age such as 30d, 12h"
    )
    sweep = action(
        "sweep",
        "hand due deliveries, and those whose runner died, to a runner",
        "Hand due deliveries (a lost task) and running ones whose lease expired (a killed "
        "worker) to a runner, as the Celery beat task vbwd_plugins.sweep does.",
    )
    sweep.add_argument("--limit", type=int, default=1000, help="most deliveries per sweep")
    _runner_options(sweep)
    json_flag(sweep)


def _runner_options(sub: argparse.ArgumentParser) -> None:
    """Where deliveries run: ``--celery MODULE:APP`` or ``--factory MODULE:FUNC``."""
    where = sub.add_mutually_exclusive_group()
    where.add_argument(
        "--celery", metavar="MODULE:APP", help="the host's Celery app: enqueue them there"
    )
    where.add_argument(
        "--factory", metavar="MODULE:FUNC", help="the host's manager factory: run them here"
    )


class _StderrHandler(logging.Handler):
    """Log records as one ``level: message`` line on the current ``sys.stderr``."""

    def __init__(self, level: int, tracebacks: bool) -> None:
        super().__init__(level)
        self.tracebacks = tracebacks

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{record.levelname.lower()}: {record.getMessage()}"
            if self.tracebacks and record.exc_info and record.exc_info[1] is not None:
                line += "\n" + "".join(traceback.format_exception(record.exc_info[1])).rstrip()
            err(line)
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


@contextmanager
def _logging(args: argparse.Namespace) -> Iterator[None]:
    """Show library logs on stderr: from -v on, or warnings while serving."""
    if args.verbose >= 2:
        level = logging.DEBUG
    elif args.verbose == 1:
        level = logging.INFO
    elif args.command == "serve":
        level = logging.WARNING
    else:
        level = logging.CRITICAL + 1  # the command reports what matters itself
    root = logging.getLogger()
    handler = _StderrHandler(level, tracebacks=args.verbose >= 2)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(old_level or logging.WARNING, level))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vbwd-plugins`` command."""
    args = build_parser().parse_args(argv)
    try:
        with _logging(args):
            return int(args.func(args))
    except (PluginError, CLIError) as exc:
        err(f"error: {cli_message(exc)}")
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (unless -vv)
        err(f"error: unexpected {type(exc).__name__}: {exc}")
        if args.verbose >= 2:
            traceback.print_exc()
        else:
            err("(run with -vv for the traceback)")
    return 1


def _closed_pipe() -> int:
    """The reader of stdout went away (``vbwd-plugins list | head -1``): stop quietly.

    Python would report the failed flush of stdout at exit; point stdout at /dev/null first.
    """
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no real file (a test's capture)
        pass
    return 141  # 128 + SIGPIPE, as a shell reports a command a closed pipe ended


def __getattr__(name: str) -> Any:
    # parse_assignment lives with the config commands; importing them is not --help's job.
    if name == "parse_assignment":
        return import_module("vbwd_plugins.cli._plugins").parse_assignment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
