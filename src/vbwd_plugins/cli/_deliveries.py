"""``vbwd-plugins deliveries``: what each listener did with each event, and dead letters.

``list``, ``show`` and ``purge`` only read (or delete from) the store. ``retry`` makes
deliveries due again; ``sweep`` hands every due delivery (and every one whose runner died) to
a runner. Running a delivery needs the listener, and host listeners live in the host's code,
so both take where to run them: ``--celery MODULE:APP`` (the host's Celery app, on which
:func:`vbwd_plugins.delivery.celery.install` registered the tasks: its workers run them) or
``--factory MODULE:FUNC`` (the host's manager factory: they run here, in this process).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from vbwd_plugins.admin._deliveries import (
    delivery_json,
    event_json,
    result_json,
    retry_deliveries,
    run_now,
)
from vbwd_plugins.cli._common import (
    CLIError,
    celery_engine,
    describe_store,
    host_manager,
    out,
    outbox_of,
    print_table,
    store_of,
)
from vbwd_plugins.delivery._model import DeliveryStatus
from vbwd_plugins.errors import PluginError

# -- commands --------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CLIError(f"--limit must be at least 1, got {args.limit}")
    status = None if args.status is None else DeliveryStatus(args.status)
    with store_of(args, create=False) as store:
        found = (
            []
            if store is None
            else outbox_of(store).deliveries_list(
                status=status, event_name=args.event, listener_id=args.listener, limit=args.limit
            )
        )
    rows = [delivery_json(delivery) for delivery in found]
    if args.json:
        out(json.dumps(rows, indent=2))
        return 0
    if not rows:
        out("No deliveries" + (f" with status {args.status}." if status else "."))
        return 0
    table = [("UPDATED", "ID", "EVENT", "LISTENER", "STATUS", "ATTEMPTS", "LAST ERROR")]
    for row in rows:
        error = (row["last_error"] or "-").splitlines()[0][:160]
        table.append(
            (
                row["updated_at"][:19],
                row["id"],
                row["event_name"],
                row["listener_id"],
                row["status"],
                str(row["attempts"]),
                error,
            )
        )
    print_table(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with store_of(args, create=False) as store:
        if store is None:
            raise CLIError(f"no store at {describe_store(args)}: no deliveries")
        outbox = outbox_of(store)
        delivery = outbox.delivery_get(args.delivery_id)
        if delivery is None:
            raise CLIError(f"no delivery {args.delivery_id!r}: list them with 'deliveries list'")
        event = outbox.event_get(delivery.event_uid)
    data: dict[str, Any] = {
        "delivery": delivery_json(delivery),
        "event": None if event is None else event_json(event),
    }
    if args.json:
        out(json.dumps(data, indent=2))
        return 0
    for key, value in data["delivery"].items():
        out(f"{key}: {'-' if value is None else value}")
    if data["event"] is not None:
        out("event:")
        out(json.dumps(data["event"], indent=2))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    chosen = [args.delivery_id is not None, args.listener is not None, args.all_dead]
    if sum(chosen) != 1:
        raise CLIError("give one delivery ID, --listener ID or --all-dead")
    with store_of(args, create=False) as store:
        if store is None:
            raise CLIError(f"no store at {describe_store(args)}: nothing to retry")
        try:
            ids = retry_deliveries(
                outbox_of(store),
                delivery_id=args.delivery_id,
                listener_id=args.listener,
                all_dead=args.all_dead,
            )
        except PluginError:  # DeliveryNotFoundError among them: one line from main()
            raise
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    return _hand_over(args, ids, "retried")


def cmd_purge(args: argparse.Namespace) -> int:
    with store_of(args, create=False) as store:
        if store is None:
            out(f"No store at {describe_store(args)}: nothing to purge.")
            return 0
        out(f"Purging succeeded deliveries last updated more than {args.older_than} ago...")
        count = outbox_of(store).deliveries_purge(older_than=args.older_than)
    out(f"Purged {count} deliveries.")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CLIError(f"--limit must be at least 1, got {args.limit}")
    if args.celery is None and args.factory is None:
        raise CLIError(
            "say where the deliveries run: --celery MODULE:APP (the host's Celery app) or "
            "--factory MODULE:FUNC (the host's manager factory, to run them here)"
        )
    if args.factory is not None:
        ids = host_manager(args.factory).deliveries.sweep(limit=args.limit)
        return _report(args, ids, "swept", None)
    engine = celery_engine(args.celery)
    with store_of(args, create=False) as store:
        if store is None:
            raise CLIError(f"no store at {describe_store(args)}: nothing to sweep")
        due = outbox_of(store).deliveries_due(limit=args.limit)
    ids = [delivery.id for delivery in due]
    if ids:
        engine.submit(ids)
    return _report(args, ids, "swept", None)


# -- output ----------------------------------------------------------------------------------


def _hand_over(args: argparse.Namespace, ids: Sequence[str], verb: str) -> int:
    """Run or enqueue ``ids`` where ``--celery``/``--factory`` say; else leave them due."""
    results = None
    if ids and args.celery is not None:
        celery_engine(args.celery).submit(list(ids))
    elif ids and args.factory is not None:
        results = run_now(host_manager(args.factory).deliveries, ids)
    return _report(args, ids, verb, results)


def _report(args: argparse.Namespace, ids: Sequence[str], verb: str, results: Any) -> int:
    where = (
        "enqueued on Celery"
        if args.celery is not None
        else "run here"
        if args.factory is not None
        else "due: they run at the next sweep"
    )
    if args.json:
        data: dict[str, Any] = {verb: list(ids), "where": where}
        if results is not None:
            data["results"] = [result_json(result) for result in results]
        out(json.dumps(data, indent=2))
    else:
        for result in results or ():
            line = f"{result.delivery_id}: {result.outcome.value}"
            out(line + (f" ({result.error})" if result.error else ""))
        out(f"{verb.capitalize()} {len(ids)} deliveries ({where}).")
    failed = [r for r in results or () if r.outcome.value not in ("succeeded", "skipped")]
    return 1 if failed else 0
