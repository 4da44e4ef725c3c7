"""Operations commands: the webhook inbox, key rotation and the HTTP server."""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vbwd_plugins.cli._common import (
    ENV_ADMIN_TOKEN,
    CLIError,
    describe_store,
    err,
    out,
    print_table,
    started,
    store_of,
)
from vbwd_plugins.config._secrets import FernetSecretBox, has_sealed
from vbwd_plugins.errors import PluginError, SecretsError
from vbwd_plugins.plugins._manager import PluginManager

if TYPE_CHECKING:
    from vbwd_plugins.stores._base import StateStore
    from vbwd_plugins.webhooks._inbox import InboxRecord, WebhookInbox


# -- the webhook inbox -----------------------------------------------------------------------


def _inbox(store: StateStore | None) -> WebhookInbox | None:
    from vbwd_plugins.webhooks._inbox import WebhookInbox

    if store is None:
        return None
    if not isinstance(store, WebhookInbox):
        raise CLIError(f"the store {store!r} has no webhook inbox")
    return store


def _inbox_row(record: InboxRecord) -> dict[str, Any]:
    return {
        "provider": record.provider,
        "event_id": record.event_id,
        "event_type": record.event_type,
        "status": record.status.value,
        "attempts": record.attempts,
        "error": record.error,
        "received_at": record.received_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "processed_at": None if record.processed_at is None else record.processed_at.isoformat(),
    }


def cmd_inbox_list(args: argparse.Namespace) -> int:
    from vbwd_plugins.webhooks._inbox import InboxStatus

    status = None if args.status is None else InboxStatus(args.status)
    with store_of(args, create=False) as store:
        inbox = _inbox(store)
        records = (
            []
            if inbox is None
            else inbox.inbox_list(status=status, provider=args.provider, limit=args.limit)
        )
    rows = [_inbox_row(record) for record in records]
    if args.json:
        out(json.dumps(rows, indent=2))
        return 0
    if not rows:
        out("No webhook events in the inbox" + (f" with status {args.status}." if status else "."))
        return 0
    table = [("RECEIVED", "PROVIDER", "EVENT ID", "TYPE", "STATUS", "ATTEMPTS", "ERROR")]
    for row in rows:
        error = (row["error"] or "-").splitlines()[0][:240]
        table.append(
            (
                row["received_at"][:19],
                row["provider"],
                row["event_id"],
                row["event_type"] or "-",
                row["status"],
                str(row["attempts"]),
                error,
            )
        )
    print_table(table)
    return 0


def cmd_inbox_replay(args: argparse.Namespace) -> int:
    from vbwd_plugins.webhooks._inbox import InboxStatus
    from vbwd_plugins.webhooks._processor import WebhookProcessor

    with store_of(args, create=False) as store:
        inbox = _inbox(store)
        if store is None or inbox is None:
            raise CLIError(f"no store at {describe_store(args)}: nothing to replay")
        if args.failed:
            if args.event_ids:
                raise CLIError("give event ids or --failed, not both")
            records = inbox.inbox_list(
                status=InboxStatus.FAILED, provider=args.provider, limit=args.limit
            )
            targets = [(r.provider, r.event_id) for r in records]
        elif args.event_ids:
            if not args.provider:
                raise CLIError("give the provider, then the event ids: inbox replay stripe evt_1")
            targets = [(args.provider, event_id) for event_id in args.event_ids]
        else:
            raise CLIError("give the event ids to replay, or --failed")
        if not targets:
            out("No failed webhook events to replay.")
            return 0
        processor = WebhookProcessor(started(args, store), inbox)
        failed = 0
        for index, (provider, event_id) in enumerate(targets, start=1):
            response = processor.replay(provider, event_id)
            outcome = response.body.get("status", "")
            detail = response.body.get("error")
            line = f"[{index}/{len(targets)}] {provider} {event_id}: {response.status} {outcome}"
            out(line + (f" ({detail})" if detail else ""))
            failed += response.status != 200
    if failed:
        err(f"error: {failed} of {len(targets)} event(s) were not handled")
        return 1
    out(f"Replayed {len(targets)} event(s).")
    return 0


def cmd_inbox_purge(args: argparse.Namespace) -> int:
    with store_of(args, create=False) as store:
        inbox = _inbox(store)
        if inbox is None:
            out(f"No store at {describe_store(args)}: nothing to purge.")
            return 0
        out(f"Purging processed webhook events last updated more than {args.older_than} ago...")
        count = inbox.inbox_purge(older_than=args.older_than)
    out(f"Purged {count} event(s).")
    return 0


# -- keys ------------------------------------------------------------------------------------


class _ProgressHandler(logging.Handler):
    """Prints ``[n/total] <message>`` for each record: the library logs one per plugin."""

    def __init__(self, total: int) -> None:
        super().__init__(logging.INFO)
        self.total = total
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        out(f"[{self.count}/{self.total}] {record.getMessage()}")


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    with store_of(args, create=False) as store:
        if store is None:
            out(f"No store at {describe_store(args)}: nothing to re-encrypt.")
            return 0
        box = FernetSecretBox.from_env()
        if box.key_count == 0:
            raise SecretsError(
                "no encryption key is configured: set VBWD_PLUGINS_SECRET_KEYS (newest key "
                "first, then the old ones) or VBWD_PLUGINS_SECRET_KEYS_FILE"
            )
        sealed = [r.plugin_name for r in store.list() if has_sealed(r.config)]
        out(
            f"Re-encrypting the secrets of {len(sealed)} plugin(s) with the first of "
            f"{box.key_count} key(s)..."
        )
        manager = PluginManager(group=args.group, store=store, secret_box=box)
        progress = _ProgressHandler(len(sealed))
        secrets_logger = logging.getLogger("vbwd_plugins.config._secrets")
        old_level = secrets_logger.level
        secrets_logger.addHandler(progress)
        secrets_logger.setLevel(logging.INFO)
        try:
            rewritten = manager.rotate_keys()
        finally:
            secrets_logger.removeHandler(progress)
            secrets_logger.setLevel(old_level)
    unchanged = len(sealed) - len(rewritten)
    out(f"Done: {len(rewritten)} re-encrypted, {unchanged} already under the current key.")
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    out(FernetSecretBox.generate_key())
    return 0


# -- serve -----------------------------------------------------------------------------------


def _follow(store: StateStore, manager: PluginManager, stop: threading.Event) -> None:
    """Apply other processes' changes (CLI, other workers) while serving."""
    wait = getattr(store, "wait_for_change", None)
    while not stop.is_set():
        try:
            if callable(wait):
                wait(timeout=2.0)
            else:
                stop.wait(2.0)
            if not stop.is_set():
                manager.refresh()
        except PluginError as exc:
            logging.getLogger(__name__).warning("following the store failed: %s", exc)
            stop.wait(2.0)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from vbwd_plugins.web.asgi import create_app
    except ImportError as exc:
        raise CLIError(
            f"serve needs uvicorn and starlette ({exc.name} is missing): "
            "pip install 'vbwd-plugins[serve]'"
        ) from None
    import socket

    from vbwd_plugins.web._common import bearer_token
    from vbwd_plugins.webhooks._processor import WebhookProcessor

    token = os.environ.get(ENV_ADMIN_TOKEN, "")
    with store_of(args, create=True) as store:
        assert store is not None
        manager = started(args, store)
        app = create_app(
            manager,
            WebhookProcessor(manager),
            authorize=bearer_token(token) if token else None,
            admin_prefix=args.admin_prefix,
            webhook_prefix=args.webhook_prefix,
        )
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        try:
            sock = socket.create_server((args.host, args.port), family=family)
        except OSError as exc:
            raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        stop = threading.Event()
        follower = threading.Thread(
            target=_follow, args=(store, manager, stop), name="vbwd-follow-store", daemon=True
        )
        host, port = sock.getsockname()[:2]
        out(f"Serving vbwd-plugins on http://{host}:{port} (store: {describe_store(args)})")
        out(f"  webhooks: POST {args.webhook_prefix.rstrip('/')}/<provider>")
        if token:
            out(f"  admin:    {args.admin_prefix} (Authorization: Bearer ${ENV_ADMIN_TOKEN})")
        else:
            out(f"  admin:    disabled: set {ENV_ADMIN_TOKEN} to enable it")
        if host not in ("127.0.0.1", "::1", "localhost"):
            err(f"warning: listening on {host}, reachable from other machines")
        config = uvicorn.Config(
            app,
            log_level="info" if args.verbose else "warning",
            access_log=args.verbose > 0,
            lifespan="off",
            ws="none",
            http="h11",
        )
        follower.start()
        with _sigterm_interrupts():
            try:
                uvicorn.Server(config).run(sockets=[sock])
            except KeyboardInterrupt:
                pass  # uvicorn shut down gracefully, then re-raised the signal
            finally:
                stop.set()
                follower.join(10)
                sock.close()
    out("Stopped.")
    return 0


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Let SIGTERM stop ``serve`` like Ctrl-C (cleanly), not kill it mid-write."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
