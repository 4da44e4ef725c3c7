"""Flask adapter: one Blueprint with the plugin admin API and the webhook route.

``pip install "vbwd-plugins[flask]"``::

    from vbwd_plugins.web.flask import create_blueprint

    app.register_blueprint(
        create_blueprint(manager, authorize=lambda request: current_user.is_admin),
        url_prefix="/api/v1",
    )

gives ``/api/v1/admin/plugins/...`` (see :class:`vbwd_plugins.admin.PluginAdmin`),
``/api/v1/admin/deliveries/...`` (see :class:`vbwd_plugins.admin.DeliveryAdmin`) and
``POST /api/v1/webhooks/<provider>``. The admin routes refuse every request (403) unless
``authorize`` is given; webhook routes are authenticated by the provider's signature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import flask

from vbwd_plugins.admin._deliveries import DeliveryAdmin
from vbwd_plugins.admin._service import PluginAdmin
from vbwd_plugins.web._common import (
    ADMIN_METHODS,
    DEFAULT_MAX_BODY,
    DELIVERIES_METHODS,
    AdminHandle,
    WebhookHandler,
    admin_api,
    default_processor,
    deliveries_api,
    payload_too_large,
    refusal,
)

if TYPE_CHECKING:
    from vbwd_plugins.plugins._manager import PluginManager

__all__ = ["create_blueprint"]


def create_blueprint(
    manager: PluginManager,
    processor: WebhookHandler | None = None,
    *,
    authorize: Callable[[flask.Request], bool] | None = None,
    admin_prefix: str | None = "/admin/plugins",
    webhook_prefix: str | None = "/webhooks",
    name: str = "vbwd_plugins",
    max_body_size: int = DEFAULT_MAX_BODY,
    deliveries_prefix: str | None = "/admin/deliveries",
    console_prefix: str | None = "/admin/console",
    console_secret: str | bytes | None = None,
    metrics: bool | Callable[[flask.Request], bool] = False,
) -> flask.Blueprint:
    """A Blueprint serving the admin API under ``admin_prefix``, the deliveries admin API
    under ``deliveries_prefix`` and webhooks under ``webhook_prefix`` (``None`` leaves one out).

    ``processor`` defaults to a :class:`vbwd_plugins.WebhookProcessor` on ``manager``.
    ``authorize(request) -> bool`` decides who may use both admin APIs; without it the
    admin routes answer 403. Bodies larger than ``max_body_size`` bytes answer 413.
    The admin web page is under ``console_prefix`` (behind ``authorize``; see
    ``docs/operating.md``); ``console_secret`` signs its cookies (default: derived from a
    :func:`~vbwd_plugins.web.bearer_token` check, else random per process).
    ``metrics=True`` adds ``GET /metrics`` (Prometheus text; ``vbwd-plugins[metrics]``)
    behind ``authorize``; a callable instead is the endpoint's own check.
    """
    blueprint = flask.Blueprint(name, __name__)
    if metrics:
        _add_metrics(blueprint, authorize if metrics is True else metrics)
    admin, deliveries = PluginAdmin(manager), DeliveryAdmin(manager)
    handler = processor if processor is not None else default_processor(manager)
    if admin_prefix is not None:
        handle = admin_api(admin)
        _add_api(blueprint, "admin", handle, authorize, admin_prefix, max_body_size, ADMIN_METHODS)
    if deliveries_prefix is not None:
        handle = deliveries_api(deliveries)
        prefix, methods = deliveries_prefix, DELIVERIES_METHODS
        _add_api(blueprint, "deliveries", handle, authorize, prefix, max_body_size, methods)
    if webhook_prefix is not None:
        _add_webhooks(blueprint, handler, webhook_prefix, max_body_size)
    if console_prefix is not None:
        from vbwd_plugins.web._console import create_console
        from vbwd_plugins.web._console._flask import add_console

        console = create_console(
            admin, deliveries, handler, authorize=authorize, secret=console_secret
        )
        add_console(
            blueprint, console, authorize, console_prefix, lambda r: _read_body(r, max_body_size)
        )
    return blueprint


def _add_metrics(
    blueprint: flask.Blueprint, authorize: Callable[[flask.Request], bool] | None
) -> None:
    from vbwd_plugins.telemetry import enable_prometheus, prometheus_exposition

    enable_prometheus()  # fails now, not at the first scrape, without the extra

    def metrics_route() -> flask.Response:
        refused = refusal(authorize, flask.request)
        if refused is not None:
            return _json(refused.status, refused.body, refused.headers)
        body, content_type = prometheus_exposition(flask.request.headers.get("Accept"))
        return flask.Response(body, headers={"Content-Type": content_type})

    blueprint.add_url_rule("/metrics", "metrics", metrics_route, methods=["GET"])


def _add_api(
    blueprint: flask.Blueprint,
    endpoint: str,
    handle: AdminHandle,
    authorize: Callable[[flask.Request], bool] | None,
    prefix: str,
    limit: int,
    methods: list[str],
) -> None:
    prefix = "/" + prefix.strip("/")

    def api_route(path: str = "") -> flask.Response:
        request = flask.request
        refused = refusal(authorize, request)
        if refused is not None:
            return _json(refused.status, refused.body, refused.headers)
        body = _read_body(request, limit)
        if body is None:
            too_large = payload_too_large(limit)
            return _json(too_large.status, too_large.body)
        query = request.args.to_dict()
        answer = handle(request.method, path, body, request.content_type, query)
        return _json(answer.status, answer.body, answer.headers)

    blueprint.add_url_rule(prefix, endpoint, api_route, methods=methods, strict_slashes=False)
    blueprint.add_url_rule(f"{prefix}/<path:path>", f"{endpoint}_path", api_route, methods=methods)


def _add_webhooks(
    blueprint: flask.Blueprint, processor: WebhookHandler, prefix: str, limit: int
) -> None:
    prefix = "/" + prefix.strip("/")

    def webhook_route(provider: str) -> flask.Response:
        request = flask.request
        body = _read_body(request, limit)
        if body is None:
            too_large = payload_too_large(limit)
            return _json(too_large.status, too_large.body)
        headers = dict(request.headers.items())
        result = processor.process(provider, headers, body, remote_addr=request.remote_addr)
        return _json(result.status, result.body)

    # With and without a trailing slash (whichever URL was registered at the provider), and
    # never a redirect (merge_slashes would send one), which providers do not follow on POST.
    for rule, endpoint in (
        (f"{prefix}/<provider>", "webhook"),
        (f"{prefix}/<provider>/", "webhook_slash"),
    ):
        blueprint.add_url_rule(rule, endpoint, webhook_route, methods=["POST"], merge_slashes=False)


def _read_body(request: flask.Request, limit: int) -> bytes | None:
    """The raw body, or ``None`` when it is larger than ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    data = request.stream.read(limit + 1)
    return None if len(data) > limit else data


def _json(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )
