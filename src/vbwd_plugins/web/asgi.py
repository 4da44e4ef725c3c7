"""ASGI adapter (Starlette): the plugin admin API and the webhook route as one ASGI app.

``pip install "vbwd-plugins[asgi]"``. Mount it in FastAPI or Starlette::

    from vbwd_plugins.web.asgi import create_app

    app.mount("/plugins", create_app(manager, authorize=is_admin))

gives ``/plugins/admin/plugins/...``, ``/plugins/admin/deliveries/...`` and
``POST /plugins/webhooks/<provider>``. The
pipeline and the manager are synchronous (database and provider calls), so requests run
in Starlette's thread pool and never block the event loop. ``authorize`` may be a plain
function (run in the thread pool) or ``async``.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vbwd_plugins.admin._deliveries import DeliveryAdmin
from vbwd_plugins.admin._service import PluginAdmin
from vbwd_plugins.web._common import (
    ADMIN_METHODS,
    DEFAULT_MAX_BODY,
    DELIVERIES_METHODS,
    AdminHandle,
    AdminResponse,
    WebhookHandler,
    admin_api,
    admin_disabled,
    authorization_failed,
    default_processor,
    deliveries_api,
    payload_too_large,
    unauthorized,
)

if TYPE_CHECKING:
    from vbwd_plugins.plugins._manager import PluginManager

__all__ = ["Authorize", "create_app"]

logger = logging.getLogger("vbwd_plugins.web")

#: The host's admin check: ``request -> bool``, sync or ``async``.
Authorize = Callable[[Request], "bool | Awaitable[bool]"]


def create_app(
    manager: PluginManager,
    processor: WebhookHandler | None = None,
    *,
    authorize: Authorize | None = None,
    admin_prefix: str | None = "/admin/plugins",
    webhook_prefix: str | None = "/webhooks",
    max_body_size: int = DEFAULT_MAX_BODY,
    deliveries_prefix: str | None = "/admin/deliveries",
    console_prefix: str | None = "/admin/console",
    console_secret: str | bytes | None = None,
    metrics: bool | Authorize = False,
) -> Starlette:
    """An ASGI app serving the admin API under ``admin_prefix``, the deliveries admin API
    under ``deliveries_prefix`` and webhooks under ``webhook_prefix`` (``None`` leaves one out).

    ``processor`` defaults to a :class:`vbwd_plugins.WebhookProcessor` on ``manager``.
    Without ``authorize`` both admin APIs answer 403. Bodies larger than
    ``max_body_size`` bytes answer 413. The admin web page is under ``console_prefix``
    (needs ``jinja2``, in the ``asgi`` extra; see ``docs/operating.md``).
    ``metrics=True`` adds ``GET /metrics`` (Prometheus text; ``vbwd-plugins[metrics]``)
    behind ``authorize``; a callable instead is the endpoint's own check.
    """
    routes: list[Route] = []
    if metrics:
        routes.append(_metrics_route(authorize if metrics is True else metrics))
    admin, deliveries = PluginAdmin(manager), DeliveryAdmin(manager)
    handler = processor if processor is not None else default_processor(manager)
    if admin_prefix is not None:
        routes += _api_routes(
            admin_api(admin), authorize, admin_prefix, max_body_size, ADMIN_METHODS
        )
    if deliveries_prefix is not None:
        handle, methods = deliveries_api(deliveries), DELIVERIES_METHODS
        routes += _api_routes(handle, authorize, deliveries_prefix, max_body_size, methods)
    if webhook_prefix is not None:
        routes += _webhook_routes(handler, webhook_prefix, max_body_size)
    if console_prefix is not None:
        from vbwd_plugins.web._console import create_console
        from vbwd_plugins.web._console._asgi import console_routes

        console = create_console(
            admin, deliveries, handler, authorize=authorize, secret=console_secret
        )
        routes += console_routes(
            console,
            lambda request: _refusal(authorize, request),
            console_prefix,
            lambda request: _read_body(request, max_body_size),
        )
    app = Starlette(routes=routes)
    # A near-miss URL answers 404, never a redirect: providers do not follow one on POST.
    app.router.redirect_slashes = False
    return app


async def _refusal(authorize: Authorize | None, request: Request) -> AdminResponse | None:
    if authorize is None:
        return admin_disabled()
    try:
        if inspect.iscoroutinefunction(authorize):
            allowed: object = await authorize(request)
        else:
            allowed = await run_in_threadpool(authorize, request)
            if inspect.isawaitable(allowed):
                allowed = await allowed
    except Exception:
        logger.exception("Plugin admin API: the authorization check raised; request refused")
        return authorization_failed()
    return None if allowed is True else unauthorized()


def _metrics_route(authorize: Authorize | None) -> Route:
    from vbwd_plugins.telemetry import enable_prometheus, prometheus_exposition

    enable_prometheus()  # fails now, not at the first scrape, without the extra

    async def metrics_endpoint(request: Request) -> Response:
        refused = await _refusal(authorize, request)
        if refused is not None:
            return _json(refused.status, refused.body, refused.headers)
        accept = request.headers.get("accept")
        body, content_type = await run_in_threadpool(prometheus_exposition, accept)
        return Response(body, headers={"Content-Type": content_type})

    return Route("/metrics", metrics_endpoint, methods=["GET"])


def _api_routes(
    handle: AdminHandle, authorize: Authorize | None, prefix: str, limit: int, methods: list[str]
) -> list[Route]:
    prefix = "/" + prefix.strip("/")

    async def api_endpoint(request: Request) -> Response:
        refused = await _refusal(authorize, request)
        if refused is not None:
            return _json(refused.status, refused.body, refused.headers)
        body = await _read_body(request, limit)
        if body is None:
            too_large = payload_too_large(limit)
            return _json(too_large.status, too_large.body)
        answer = await run_in_threadpool(
            handle,
            request.method,
            str(request.path_params.get("path", "")),
            body,
            request.headers.get("content-type"),
            dict(request.query_params),
        )
        return _json(answer.status, answer.body, answer.headers)

    return [
        Route(prefix, api_endpoint, methods=methods),
        Route(prefix + "/", api_endpoint, methods=methods),
        Route(prefix + "/{path:path}", api_endpoint, methods=methods),
    ]


def _webhook_routes(processor: WebhookHandler, prefix: str, limit: int) -> list[Route]:
    prefix = "/" + prefix.strip("/")

    async def webhook_endpoint(request: Request) -> Response:
        body = await _read_body(request, limit)
        if body is None:
            too_large = payload_too_large(limit)
            return _json(too_large.status, too_large.body)
        headers = dict(request.headers.items())
        remote = request.client.host if request.client is not None else None
        provider = str(request.path_params["provider"])
        result = await run_in_threadpool(
            processor.process, provider, headers, body, remote_addr=remote
        )
        return _json(result.status, result.body)

    # With and without a trailing slash: whichever URL was registered at the provider.
    return [
        Route(prefix + "/{provider}", webhook_endpoint, methods=["POST"]),
        Route(prefix + "/{provider}/", webhook_endpoint, methods=["POST"]),
    ]


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or ``None`` as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _json(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/json",
    )
