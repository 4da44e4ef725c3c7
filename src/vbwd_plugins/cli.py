"""The ``vbwd-plugins`` command: inspect installed plugins from a shell."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._discovery import DEFAULT_GROUP, DiscoveryState
from ._errors import PluginError
from ._manager import PluginManager

__all__ = ["main"]


def _load_all(manager: PluginManager, group: str) -> dict[str, str]:
    """Discover and load every loadable plugin; return load failures by name."""
    manager.discover(group)
    report = manager.load_plugins()
    return {name: str(exc) for name, exc in report.failed.items()}


def _cmd_list(args: argparse.Namespace) -> int:
    manager = PluginManager(group=args.group)
    failures = _load_all(manager, args.group)
    discovered = {p.name: p for p in manager.get_discovered()}
    rows = [("#", "NAME", "VERSION", "DISTRIBUTION", "STATUS", "DEPENDENCIES")]
    position = 0
    for info in manager.describe():
        found = discovered.get(info.name)
        if info.name in failures:
            status = "load-error"
        elif found is not None and found.state is not DiscoveryState.AVAILABLE:
            status = found.state.value
        else:
            status = info.status
        order = ""
        if status not in ("load-error", "blocked", "conflict"):
            position += 1
            order = str(position)
        rows.append(
            (
                order,
                info.name,
                info.version or (found.version if found else "-"),
                info.distribution or "-",
                status,
                ", ".join(info.dependencies) or "-",
            )
        )
    if len(rows) == 1:
        print(f"No plugins installed in entry-point group {args.group!r}.")
        return 0
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for _, message in sorted(failures.items()):
        print(f"error: {message}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_order(args: argparse.Namespace) -> int:
    manager = PluginManager(group=args.group)
    failures = _load_all(manager, args.group)
    for name in manager.dependency_order():
        print(name)
    for message in failures.values():
        print(f"error: {message}", file=sys.stderr)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="vbwd-plugins", description="Inspect and manage vbwd plugins."
    )
    parser.add_argument(
        "--group", default=DEFAULT_GROUP, help="entry-point group (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "list", help="installed plugins: version, distribution, status, dependency order"
    ).set_defaults(func=_cmd_list)
    commands.add_parser("order", help="start order of the installed plugins").set_defaults(
        func=_cmd_order
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vbwd-plugins`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
