"""Operations commands: the webhook inbox, key rotation and the HTTP server.

``inbox list`` shows each webhook with its deliveries counted by status; ``inbox replay`` runs
again those that did not succeed, where ``--celery`` / ``--factory`` say (as ``deliveries
retry`` does), or here with the plugins' listeners.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vbwd_plugins.cli._common import (
    ENV_ADMIN_TOKEN,
    CLIError,
    celery_engine,
    describe_store,
    err,
    host_manager,
    out,
    outbox_of,
    print_table,
    started,
    store_of,
)
from vbwd_plugins.config._secrets import FernetSecretBox, has_sealed
from vbwd_plugins.errors import SecretsError
from vbwd_plugins.plugins._manager import PluginManager

if TYPE_CHECKING:
    from vbwd_plugins.delivery._model import Delivery
    from vbwd_plugins.stores._base import StateStore
    from vbwd_plugins.webhooks._inbox import InboxRecord, WebhookInbox
    from vbwd_plugins.webhooks._processor import WebhookProcessor


# -- the webhook inbox -----------------------------------------------------------------------


def _inbox(store: StateStore | None) -> WebhookInbox | None:
    from vbwd_plugins.webhooks._inbox import WebhookInbox

    if store is None:
        return None
    if not isinstance(store, WebhookInbox):
        raise CLIError(f"the store {store!r} has no webhook inbox")
    return store


def _inbox_row(record: InboxRecord, deliveries: Sequence[Delivery]) -> dict[str, Any]:
    """A webhook with a count of its deliveries by status and the latest delivery error."""
    from vbwd_plugins.delivery._model import DeliveryStatus

    counts = dict.fromkeys((status.value for status in DeliveryStatus), 0)
    for delivery in deliveries:
        counts[delivery.status.value] += 1
    failing = [d for d in deliveries if d.status is not DeliveryStatus.SUCCEEDED and d.last_error]
    latest = max(failing, key=lambda delivery: delivery.updated_at, default=None)
    last_error = record.error if latest is None else f"{latest.listener_id}: {latest.last_error}"
    return {
        "provider": record.provider,
        "event_id": record.event_id,
        "event_type": record.event_type,
        "status": record.status.value,
        "deliveries": counts,
        "last_error": last_error,
        "attempts": record.attempts,
        "error": record.error,
        "received_at": record.received_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "processed_at": None if record.processed_at is None else record.processed_at.isoformat(),
    }


def _webhooks(args: argparse.Namespace, store: StateStore) -> list[InboxRecord]:
    """The inbox rows ``--unfinished`` or ``--status`` (and ``--provider``) select."""
    from vbwd_plugins.webhooks._inbox import InboxStatus

    if args.limit < 1:
        raise CLIError(f"--limit must be at least 1, got {args.limit}")
    inbox = _inbox(store)
    assert inbox is not None
    if not args.unfinished:
        status = None if args.status is None else InboxStatus(args.status)
        return inbox.inbox_list(status=status, provider=args.provider, limit=args.limit)
    keys = outbox_of(store).webhooks_unfinished(provider=args.provider, limit=args.limit)
    found = (inbox.inbox_get(provider, event_id) for provider, event_id in keys)
    return [record for record in found if record is not None]  # None: purged meanwhile


def cmd_inbox_list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    with store_of(args, create=False) as store:
        if store is not None:
            outbox = outbox_of(store)
            rows = [
                _inbox_row(record, outbox.deliveries_of_webhook(record.provider, record.event_id))
                for record in _webhooks(args, store)
            ]
    if args.json:
        out(json.dumps(rows, indent=2))
        return 0
    if not rows:
        which = (
            " with unfinished deliveries"
            if args.unfinished
            else f" with status {args.status}"
            if args.status
            else ""
        )
        out(f"No webhook events{which}.")
        return 0
    table = [("RECEIVED", "PROVIDER", "EVENT ID", "TYPE", "STATUS", "DELIVERIES", "LAST ERROR")]
    for row in rows:
        summary = ", ".join(f"{n} {status}" for status, n in row["deliveries"].items() if n)
        table.append(
            (
                row["received_at"][:19],
                row["provider"],
                row["event_id"],
                row["event_type"] or "-",
                row["status"],
                summary or "none",
                (row["last_error"] or "-").splitlines()[0][:240],
            )
        )
    print_table(table)
    return 0


def cmd_inbox_replay(args: argparse.Namespace) -> int:
    with store_of(args, create=False) as store:
        if store is None:
            raise CLIError(f"no store at {describe_store(args)}: nothing to replay")
        if args.unfinished:
            if args.event_ids:
                raise CLIError("give event ids or --unfinished, not both")
            targets = [(r.provider, r.event_id) for r in _webhooks(args, store)]
        elif args.event_ids:
            if not args.provider:
                raise CLIError("give the provider, then the event ids: inbox replay stripe evt_1")
            targets = [(args.provider, event_id) for event_id in args.event_ids]
        else:
            raise CLIError("give the event ids to replay, or --unfinished")
        if not targets:
            out("No unfinished webhook events to replay.")
            return 0
        processor = _replayer(args, store, targets)
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
    where = "enqueued on Celery" if args.celery is not None else "run here"
    out(f"Replayed {len(targets)} event(s) ({where}).")
    return 0


def _replayer(
    args: argparse.Namespace, store: StateStore, targets: Sequence[tuple[str, str]]
) -> WebhookProcessor:
    """A processor whose manager has the listeners the replayed deliveries need.

    ``--factory``: the host's manager (its listeners run here). ``--celery``: the plugins of
    the store, handing deliveries to the host's workers. Neither: the plugins of the store
    run them here, as under ``serve``; refused if a delivery is for a listener they lack.
    """
    from vbwd_plugins.webhooks._processor import WebhookProcessor

    if args.factory is not None:
        return WebhookProcessor(host_manager(args.factory))
    manager = started(args, store)
    if args.celery is not None:
        manager.set_delivery_engine(celery_engine(args.celery))
    for provider, event_id in targets:
        _check_replayable(manager, store, provider, event_id, deferred=args.celery is not None)
    return WebhookProcessor(manager)


def _check_replayable(
    manager: PluginManager, store: StateStore, provider: str, event_id: str, *, deferred: bool
) -> None:
    """Refuse a replay this process would get wrong for lack of the host's listeners."""
    from vbwd_plugins.delivery._model import DeliveryStatus
    from vbwd_plugins.webhooks._inbox import InboxStatus

    inbox = _inbox(store)
    record = None if inbox is None else inbox.inbox_get(provider, event_id)
    if deferred:
        if record is not None and record.status in (InboxStatus.FAILED, InboxStatus.PROCESSING):
            raise CLIError(
                f"{provider} {event_id} was received before deliveries were recorded; its "
                "replay records one per listener, which needs the host's: use --factory "
                "MODULE:FUNC instead of --celery"
            )
        return
    for one in outbox_of(store).deliveries_of_webhook(provider, event_id):
        if one.status is DeliveryStatus.SUCCEEDED:
            continue
        if manager.event_dispatcher.find_listener(one.event_name, one.listener_id) is None:
            raise CLIError(
                f"{provider} {event_id}: delivery {one.id} is for listener {one.listener_id!r}, "
                "which no enabled plugin has; give the host's --factory MODULE:FUNC (run it "
                "here) or --celery MODULE:APP (its workers run it)"
            )


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

#: Where ``serve`` mounts the plugin admin web page.
CONSOLE_PREFIX = "/admin/console"


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
            admin_prefix=args.admin_prefix if token else None,
            deliveries_prefix="/admin/deliveries" if token else None,
            webhook_prefix=args.webhook_prefix,
            metrics=_metrics_check(args, token),
            console_prefix=CONSOLE_PREFIX,  # without a token it says how to open it
        )
        if not token:
            app.router.routes[:0] = _closed_admin(args.admin_prefix, "/admin/deliveries")
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        try:
            sock = socket.create_server((args.host, args.port), family=family)
        except OSError as exc:
            raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        host, port = sock.getsockname()[:2]
        out(f"Serving vbwd-plugins on http://{host}:{port} (store: {describe_store(args)})")
        out(f"  webhooks: POST {args.webhook_prefix.rstrip('/')}/<provider>")
        if token:
            out(f"  admin:    {args.admin_prefix} (Authorization: Bearer ${ENV_ADMIN_TOKEN})")
            out(f"  console:  {CONSOLE_PREFIX}/ in a browser (sign in with ${ENV_ADMIN_TOKEN})")
        else:
            out(f"  admin:    disabled: set {ENV_ADMIN_TOKEN} to enable it")
        if args.metrics:
            scrape = ENV_METRICS_TOKEN if os.environ.get(ENV_METRICS_TOKEN) else ENV_ADMIN_TOKEN
            out(f"  metrics:  GET /metrics (Authorization: Bearer ${scrape})")
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
        follower = manager.follow_store()  # changes by the CLI or other workers
        with _sigterm_interrupts():
            try:
                uvicorn.Server(config).run(sockets=[sock])
            except KeyboardInterrupt:
                pass  # uvicorn shut down gracefully, then re-raised the signal
            finally:
                follower.stop(timeout=1.0)
                sock.close()
    out("Stopped.")
    return 0


def _closed_admin(*prefixes: str) -> list[Any]:
    """Routes answering 403 on the admin APIs, saying how ``serve`` opens them."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    message = (
        f"The admin API of `vbwd-plugins serve` is disabled: set {ENV_ADMIN_TOKEN} to a "
        "secret token, restart it and send Authorization: Bearer <token>"
    )

    async def closed(request: Request) -> JSONResponse:
        return JSONResponse({"error": "admin_disabled", "message": message}, status_code=403)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes: list[Any] = []
    for prefix in prefixes:
        prefix = "/" + prefix.strip("/")
        for path in (prefix, prefix + "/", prefix + "/{path:path}"):
            routes.append(Route(path, closed, methods=methods))
    return routes


#: The bearer token a Prometheus scraper sends to ``serve --metrics`` (else the admin one).
ENV_METRICS_TOKEN = "VBWD_METRICS_TOKEN"


def _metrics_check(args: argparse.Namespace, admin_token: str) -> Any:
    """``create_app``'s ``metrics=``: off, or a bearer-token check (closed without a token)."""
    if not args.metrics:
        return False
    from vbwd_plugins.web._common import bearer_token

    try:
        import prometheus_client  # noqa: F401 - fail before listening, with the fix
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: F401
    except ImportError as exc:
        raise CLIError(
            f"serve --metrics needs {exc.name}: pip install 'vbwd-plugins[metrics]'"
        ) from None
    token = os.environ.get(ENV_METRICS_TOKEN) or admin_token
    return bearer_token(token) if token else True


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
