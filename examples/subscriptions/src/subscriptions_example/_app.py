"""The Flask application: the subscription API plus the vbwd-plugins blueprint.

``POST /api/v1/subscriptions`` creates a PENDING subscription and its payment intent;
``POST /api/v1/subscriptions/<id>/pay`` confirms or captures it; the provider's webhook
arrives at ``POST /api/v1/webhooks/<provider>`` and the ``payment.completed`` listener
activates the subscription. ``/api/v1/admin/plugins`` is the plugin admin API, open only
with ``Authorization: Bearer $VBWD_ADMIN_TOKEN``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from vbwd_plugins import (
    PluginManager,
    SQLiteStateStore,
    WebhookProcessor,
)
from vbwd_plugins.web import bearer_token
from vbwd_plugins.web.flask import create_blueprint

from ._db import SubscriptionDB
from ._service import ServiceError, SubscriptionService, status_of

__all__ = ["create_app"]


def create_app(
    manager: PluginManager | None = None,
    *,
    database: str | Path | None = None,
    admin_token: str | None = None,
) -> Flask:
    """The host app. Without arguments (``flask --app subscriptions_example run``) it reads
    ``SUBSCRIPTIONS_DB``, ``VBWD_PLUGINS_STORE`` and ``VBWD_ADMIN_TOKEN`` from the environment.

    A given ``manager`` must have a store (the webhook inbox lives there). One built here
    is started, so plugins enabled earlier (CLI, admin API) are running, and follows the
    store, so ``vbwd-plugins enable``/``disable``/``config set`` take effect while it runs
    (``app.extensions["vbwd_follower"].stop()`` ends that).
    """
    follower = None
    if manager is None:
        store = SQLiteStateStore(os.environ.get("VBWD_PLUGINS_STORE", "vbwd-plugins.sqlite3"))
        manager = PluginManager(store=store, allow={"stripe", "paypal"})
        manager.start()
        follower = manager.follow_store()
    if admin_token is None:
        admin_token = os.environ.get("VBWD_ADMIN_TOKEN") or None
    db = SubscriptionDB(database or os.environ.get("SUBSCRIPTIONS_DB", "subscriptions.sqlite3"))
    service = SubscriptionService(manager, db)
    service.subscribe_listeners()

    app = Flask(__name__)
    app.extensions["subscriptions"] = service
    app.extensions["vbwd_follower"] = follower
    app.register_blueprint(
        create_blueprint(
            manager,
            WebhookProcessor(manager),
            authorize=bearer_token(admin_token) if admin_token else None,
        ),
        url_prefix="/api/v1",
    )

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError) -> tuple[Response, int]:
        return jsonify({"error": exc.code, "message": str(exc)}), exc.status

    @app.post("/api/v1/subscriptions")
    def create_subscription() -> tuple[Response, int]:
        body = _body()
        subscription, payment = service.create(
            str(body.get("user_id")), str(body.get("plan")), body.get("provider")
        )
        return jsonify({**status_of(subscription), "payment": _payment(payment)}), 201

    @app.post("/api/v1/subscriptions/<subscription_id>/pay")
    def pay(subscription_id: str) -> tuple[Response, int]:
        method = _body().get("payment_method")
        if not isinstance(method, str) or not method:
            raise ServiceError(400, "payment_method_required", "payment_method is required")
        subscription, payment = service.pay(subscription_id, method)
        # 202: the webhook, not this answer, decides whether the subscription activates.
        return jsonify({**status_of(subscription), "payment": _payment(payment)}), 202

    @app.get("/api/v1/subscriptions/<subscription_id>")
    def show(subscription_id: str) -> Response:
        return jsonify(status_of(service.get(subscription_id)))

    return app


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ServiceError(400, "invalid_json", "Send a JSON object")
    return body


def _payment(result: Any) -> dict[str, Any]:
    metadata = result.metadata or {}
    return {
        "success": result.success,
        "status": result.status.value,
        "transaction_id": result.transaction_id,
        "error_code": None if result.error_code is None else result.error_code.value,
        "client_secret": metadata.get("client_secret"),
        "approval_url": metadata.get("approval_url"),
    }
