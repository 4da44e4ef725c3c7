"""Plugin commands: list, order, show, enable, disable, config, doctor."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins._json import parse_json
from vbwd_plugins.admin._service import PluginAdmin
from vbwd_plugins.cli._common import (
    CLIError,
    cli_message,
    describe_store,
    err,
    out,
    print_config,
    print_table,
    records_of,
    started,
    store_of,
)
from vbwd_plugins.config._resolver import ConfigResolver
from vbwd_plugins.config._secrets import FernetSecretBox, has_sealed
from vbwd_plugins.errors import (
    DependencyCycleError,
    PluginError,
    PluginNotFoundError,
    SecretsError,
)
from vbwd_plugins.plugins._discovery import (
    DiscoveredPlugin,
    DiscoveryState,
    declared_dependencies,
    discover,
)
from vbwd_plugins.plugins._graph import dependency_order
from vbwd_plugins.plugins._manager import MISSING, PluginManager
from vbwd_plugins.plugins._model import PluginStatus

if TYPE_CHECKING:
    from vbwd_plugins.stores._base import PluginRecord, StateStore

NOT_STARTED: Final = ("load-error", "blocked", "conflict")


# -- list, order, show -----------------------------------------------------------------------


def _load_all(manager: PluginManager, group: str) -> dict[str, str]:
    """Discover and load every loadable plugin; return load failures by name."""
    manager.discover(group)
    report = manager.load_plugins()
    return {name: str(exc) for name, exc in report.failed.items()}


def _rows(
    manager: PluginManager, failures: Mapping[str, str], records: Mapping[str, PluginRecord]
) -> list[dict[str, Any]]:
    """One dict per plugin: installed ones in start order, then recorded-only ones."""
    discovered = {p.name: p for p in manager.get_discovered()}
    rows: list[dict[str, Any]] = []
    position = 0
    for info in manager.describe():
        found = discovered.get(info.name)
        if info.name in failures:
            status = "load-error"
        elif found is not None and found.state is not DiscoveryState.AVAILABLE:
            status = found.state.value
        elif info.name in records:
            status = records[info.name].status
        else:
            status = info.status
        order = None
        if status not in NOT_STARTED:
            position += 1
            order = position
        rows.append(
            {
                "order": order,
                "name": info.name,
                "version": info.version or (found.version if found else None),
                "distribution": info.distribution,
                "status": status,
                "dependencies": list(info.dependencies),
                "error": failures.get(info.name) or info.error,
            }
        )
    listed = {row["name"] for row in rows}
    rows += ({"order": None, **row} for row in _missing_rows(records, listed))
    return rows


def _listed_rows(
    found: list[DiscoveredPlugin], records: Mapping[str, PluginRecord]
) -> list[dict[str, Any]]:
    """``list``'s rows from entry points, distribution metadata and the store: no plugin is
    imported, so the version is the distribution's and the dependencies are the ones its
    distribution declares (see docs/discovery.md)."""
    requires = declared_dependencies(found)
    rows: list[dict[str, Any]] = []
    for plugin in found:
        if plugin.state is not DiscoveryState.AVAILABLE:
            status = plugin.state.value
        elif plugin.name in records:
            status = records[plugin.name].status
        else:
            status = PluginStatus.DISCOVERED.value
        rows.append(
            {
                "name": plugin.name,
                "version": plugin.version,
                "distribution": plugin.distribution,
                "status": status,
                "dependencies": list(requires[plugin]),
                "error": None,
            }
        )
    rows += _missing_rows(records, {plugin.name for plugin in found})
    return rows


def _missing_rows(records: Mapping[str, PluginRecord], installed: set[str]) -> list[dict[str, Any]]:
    """Rows for plugins the store records but nothing installed provides."""
    return [
        {
            "name": name,
            "version": None,
            "distribution": None,
            "status": MISSING,
            "dependencies": [],
            "error": f"recorded as {record.status} but not installed",
        }
        for name, record in sorted(records.items())
        if name not in installed and record.status != PluginStatus.UNINSTALLED.value
    ]


_REQUIRED_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _cycles(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The dependency cycles among ``rows``, each as a path ``[a, b, a]``.

    Each cycle found is reported and its plugins set aside, so disjoint cycles are all
    found; a plugin in two cycles is named in the first.
    """
    graph: dict[str, list[str]] = {}
    for row in rows:
        names = (_REQUIRED_NAME.match(text) for text in row["dependencies"])
        graph[row["name"]] = [match.group(0) for match in names if match is not None]
    cycles: list[list[str]] = []
    while True:
        try:
            dependency_order(graph)
        except DependencyCycleError as exc:
            cycles.append(list(exc.cycle))
            for name in exc.cycle:
                graph.pop(name, None)
        else:
            return cycles


def cmd_list(args: argparse.Namespace) -> int:
    found = discover(args.group)
    with store_of(args, create=False) as store:
        rows = _listed_rows(found, records_of(store))
    cycles = _cycles(rows)
    for cycle in cycles:
        for row in rows:
            if row["name"] in cycle:
                row["error"] = f"dependency cycle: {' -> '.join(cycle)}"
    if args.json:
        out(json.dumps(rows, indent=2))
    elif not rows:
        out(f"No plugins installed in entry-point group {args.group!r}.")
    else:
        table = [("NAME", "VERSION", "DISTRIBUTION", "STATUS", "DEPENDENCIES (DISTRIBUTION)")]
        for row in rows:
            table.append(
                (
                    row["name"],
                    row["version"] or "-",
                    row["distribution"] or "-",
                    row["status"],
                    ", ".join(row["dependencies"]) or "-",
                )
            )
        print_table(table)
    for cycle in cycles:
        err(
            f"error: plugin dependencies form a cycle: {' -> '.join(cycle)}; none of "
            f"{', '.join(sorted(set(cycle)))} can be enabled until one of their distributions "
            "stops requiring the next (see `vbwd-plugins doctor`)"
        )
    return 1 if cycles else 0


def cmd_order(args: argparse.Namespace) -> int:
    manager = PluginManager(group=args.group)
    failures = _load_all(manager, args.group)
    for name in manager.dependency_order():
        out(name)
    for message in failures.values():
        err(f"error: {message}")
    return 1 if failures else 0


def _plugin_view(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Everything ``show`` prints about ``name``; read-only (nothing is started)."""
    manager = PluginManager(group=args.group)
    manager.discover(args.group)
    error: str | None = None
    if any(p.name == name for p in manager.get_discovered()):
        try:
            manager.load_plugin(name)
        except PluginError as exc:
            error = str(exc)
    with store_of(args, create=False) as store:
        records = records_of(store)
    rows = {row["name"]: row for row in _rows(manager, {name: error} if error else {}, records)}
    if name not in rows:
        raise PluginNotFoundError(
            f"Plugin '{name}' not found: not installed in group {args.group!r} and not recorded "
            "in the store",
            plugin_name=name,
        )
    view = dict(rows[name])
    del view["order"]
    plugin = manager.get_plugin(name)
    if plugin is not None:
        view["author"] = plugin.metadata.author
        view["description"] = plugin.metadata.description
    record = records.get(name)
    view["config"] = ConfigResolver.public(record.config) if record is not None else {}
    view["recorded"] = record is not None
    from vbwd_plugins.cli._fields import schema_fields  # pydantic: not for `list`

    view["schema"] = None if plugin is None else schema_fields(name, type(plugin).config_schema)
    return view


def _print_config_or_fields(view: dict[str, Any], indent: str) -> None:
    """The stored configuration; before there is one, the fields it takes."""
    if view["config"]:
        print_config(view["config"], indent=indent)
        return
    if view["schema"] is None and view["status"] == MISSING:
        out(f"{indent}(none: the plugin is not installed)")
        return
    from vbwd_plugins.cli._fields import print_fields

    name = view["name"]
    out(f"{indent}(not configured yet: `vbwd-plugins config set {name} key=value ...`, or the")
    out(f"{indent} environment variables below; then `vbwd-plugins enable {name}`)")
    print_fields(view["schema"], indent=indent)


def cmd_show(args: argparse.Namespace) -> int:
    view = _plugin_view(args, args.name)
    if args.json:
        out(json.dumps(view, indent=2))
        return 0
    status = view["status"] + ("" if view["recorded"] else " (not recorded in the store)")
    for label, value in (
        ("name", view["name"]),
        ("version", view["version"] or "-"),
        ("distribution", view["distribution"] or "-"),
        ("status", status),
        ("dependencies", ", ".join(view["dependencies"]) or "-"),
        ("description", view.get("description") or "-"),
        ("author", view.get("author") or "-"),
    ):
        out(f"{label + ':':14}{value}")
    if view["error"]:
        out(f"{'error:':14}{view['error']}")
    out("config:")
    _print_config_or_fields(view, "  ")
    if view["config"] and view["schema"] is not None:
        from vbwd_plugins.cli._fields import print_fields

        out("fields:")
        print_fields(view["schema"])
    return 0


# -- enable, disable, config -----------------------------------------------------------------


def _admin(args: argparse.Namespace, store: StateStore) -> PluginAdmin:
    """Admin operations on a started manager (the same code the admin API runs)."""
    return PluginAdmin(started(args, store))


def cmd_enable(args: argparse.Namespace) -> int:
    with store_of(args, create=True) as store:
        assert store is not None
        result = _admin(args, store).enable(args.name, with_dependencies=args.with_dependencies)
    if result["enabled"]:
        out(f"Enabled: {', '.join(result['enabled'])}")
    else:
        out(f"Plugin {args.name!r} is already enabled.")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    with store_of(args, create=True) as store:
        assert store is not None
        result = _admin(args, store).disable(args.name, cascade=args.cascade)
    if result["disabled"]:
        out(f"Disabled: {', '.join(result['disabled'])}")
    else:
        out(f"Plugin {args.name!r} is not enabled (status: {result['plugin']['status']}).")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    view = _plugin_view(args, args.name)
    if args.json:
        out(json.dumps(view["config"], indent=2))
    else:
        _print_config_or_fields(view, "")
    return 0


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` (a string), ``key:=json`` (any JSON value), ``key=@file`` / ``key=@-``
    (the file's or stdin's text, one trailing newline removed)."""
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.-]*)(:?=)(.*)", text, flags=re.DOTALL)
    if match is None:
        raise CLIError(f"expected key=value or key:=json, got {text.split('=', 1)[0]!r}...")
    key, operator, raw = match.groups()
    if operator == ":=":
        try:
            return key, parse_json(raw)
        except ValueError:
            raise CLIError(f"the value of {key!r} is not valid JSON (key:=json)") from None
    if raw.startswith("@"):
        source = raw[1:]
        try:
            content = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        except OSError as exc:
            raise CLIError(
                f"cannot read the value of {key!r} from {source!r}: {exc.strerror}"
            ) from None
        return key, content.removesuffix("\n")
    return key, raw


def cmd_config_set(args: argparse.Namespace) -> int:
    values = dict(parse_assignment(item) for item in args.assignments)
    with store_of(args, create=True) as store:
        assert store is not None
        shown = _admin(args, store).update_config(args.name, values, replace=args.replace)
    out(f"Configuration of {args.name!r} saved ({shown['status']}):")
    print_config(shown["config"])
    return 0


# -- doctor ----------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    problems = 0

    def report(level: str, message: str) -> None:
        nonlocal problems
        problems += level == "error"
        out(f"{level:5}  {message}")

    manager = PluginManager(group=args.group)
    found = manager.discover(args.group)
    if not found:
        report("ok", f"no plugins installed in entry-point group {args.group!r}")
    for plugin in found:
        if plugin.state is DiscoveryState.CONFLICT:
            others = ", ".join(plugin.conflicts_with)
            report(
                "error",
                f"{plugin.name}: name claimed by {plugin.distribution} and {others}; "
                "uninstall all but one",
            )
        elif plugin.state is DiscoveryState.BLOCKED:
            report("warn", f"{plugin.name}: blocked by the host's policy")
    failures = manager.load_plugins()
    for name, exc in sorted(failures.failed.items()):
        report("error", f"{name}: {cli_message(exc)}")
    for name in failures.loaded:
        meta = manager.get_metadata(name)
        dist = next((p for p in found if p.name == name), None)
        where = f" ({dist.distribution} {dist.version})" if dist else ""
        report("ok", f"{name} {meta.version}{where}: loads, metadata valid")
    _doctor_dependencies(manager, report)
    with store_of(args, create=False) as store:
        if store is None:
            report("ok", f"no store yet at {describe_store(args)} (nothing recorded)")
        else:
            _doctor_store(manager, store, report)
    summary = "no problems found" if not problems else f"{problems} problem(s) found"
    out(f"doctor: {summary}")
    return 1 if problems else 0


def _doctor_dependencies(manager: PluginManager, report: Callable[[str, str], None]) -> None:
    """Report unsatisfiable requirements and dependency cycles."""
    from vbwd_plugins.plugins._graph import check_requirement

    satisfied = True
    for plugin in manager.get_all_plugins():
        name = plugin.metadata.name
        for requirement in manager.get_metadata(name).requirements():
            dependency = manager.get_plugin(requirement.name)
            version = None if dependency is None else dependency.metadata.version
            try:
                check_requirement(name, requirement, version)
            except PluginError as exc:
                satisfied = False
                report("error", f"{name}: {cli_message(exc)}")
    try:
        order = manager.dependency_order()
    except PluginError as exc:
        report("error", cli_message(exc))
    else:
        if order and satisfied:
            report("ok", f"dependencies satisfiable; start order: {', '.join(order)}")


def _doctor_store(
    manager: PluginManager, store: StateStore, report: Callable[[str, str], None]
) -> None:
    """Check every record the way a start would resolve it: decrypt, environment, validate."""
    records = store.list()
    report("ok", f"store opens: {len(records)} plugin record(s)")
    try:
        resolver = ConfigResolver(FernetSecretBox.from_env())
    except SecretsError as exc:
        report("error", cli_message(exc))
        return
    for record in records:
        name = record.plugin_name
        plugin = manager.get_plugin(name)
        uninstalled = record.status == PluginStatus.UNINSTALLED.value
        if plugin is None and not uninstalled:
            report("warn", f"{name}: recorded as {record.status} but not installed")
        schema = type(plugin).config_schema if plugin is not None and not uninstalled else None
        invalid: PluginError | None = None
        try:
            resolver.resolve(name, schema, stored=record.config)
        except SecretsError as exc:
            report("error", f"{name}: {cli_message(exc)}")
            continue
        except PluginError as exc:
            invalid = exc
        if has_sealed(record.config):
            report("ok", f"{name}: stored secrets decrypt")
        if invalid is not None:
            report("error", f"{name}: stored configuration is invalid: {cli_message(invalid)}")
