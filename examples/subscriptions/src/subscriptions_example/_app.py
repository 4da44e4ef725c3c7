"""The Flask application: the subscription API plus the vbwd-plugins blueprint.

* ``POST /api/v1/subscriptions`` creates a ``pending`` subscription and its hosted checkout,
  and answers the checkout's ``url`` to send the payer to;
* ``GET /api/v1/subscriptions/<id>`` shows it (``active``: may the payer use the service now);
* ``GET /api/v1/subscriptions/<id>/payments`` lists its payments, refunds and disputes;
* ``POST /api/v1/subscriptions/<id>/cancel`` cancels at the end of the paid period;
* ``POST /api/v1/subscriptions/<id>/refund`` refunds the last payment (or ``amount`` of it);
* the provider's webhooks arrive at ``POST /api/v1/webhooks/<provider>``; the standard events
  they produce update the subscription (``_listeners``);
* ``/api/v1/admin/plugins`` is the plugin admin API, open only with
  ``Authorization: Bearer $VBWD_ADMIN_TOKEN``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from vbwd_plugins import PluginManager, WebhookProcessor
from vbwd_plugins.stores import open_store
from vbwd_plugins.web import bearer_token
from vbwd_plugins.web.flask import create_blueprint

from ._db import SubscriptionDB
from ._service import ServiceError, SubscriptionService

__all__ = ["create_app"]


def create_app(
    manager: PluginManager | None = None,
    *,
    database: str | Path | None = None,
    admin_token: str | None = None,
    public_url: str | None = None,
) -> Flask:
    """The host app. Without arguments (``flask --app subscriptions_example run``) it reads
    ``SUBSCRIPTIONS_DB``, ``VBWD_PLUGINS_STORE`` (a SQLite path or a ``postgresql://`` URL),
    ``VBWD_ADMIN_TOKEN`` and ``PUBLIC_URL`` (where the payer comes back to) from the environment.

    A given ``manager`` must have a store (the webhook inbox lives there). One built here
    is started, so plugins enabled earlier (CLI, admin API) are running, and follows the
    store, so ``vbwd-plugins enable``/``disable``/``config set`` take effect while it runs
    (``app.extensions["vbwd_follower"].stop()`` ends that).
    """
    follower = None
    if manager is None:
        store = open_store(os.environ.get("VBWD_PLUGINS_STORE", "vbwd-plugins.sqlite3"))
        manager = PluginManager(store=store, allow={"stripe", "paypal"})
        manager.start()
        follower = manager.follow_store()
    if admin_token is None:
        admin_token = os.environ.get("VBWD_ADMIN_TOKEN") or None
    db = SubscriptionDB(database or os.environ.get("SUBSCRIPTIONS_DB", "subscriptions.sqlite3"))
    service = SubscriptionService(
        manager,
        db,
        public_url=public_url or os.environ.get("PUBLIC_URL", "http://localhost:5000"),
    )
    service.start()

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
    def signup() -> tuple[Response, int]:
        body = _body()
        subscription = service.signup(body.get("user_id"), body.get("plan"), body.get("provider"))
        checkout = {"id": subscription.checkout_session_id, "url": subscription.checkout_url}
        return jsonify({**subscription.to_json(), "checkout": checkout}), 201

    @app.get("/api/v1/subscriptions/<subscription_id>")
    def show(subscription_id: str) -> Response:
        return jsonify(service.get(subscription_id).to_json())

    @app.get("/api/v1/subscriptions/<subscription_id>/payments")
    def payments(subscription_id: str) -> Response:
        subscription = service.get(subscription_id)
        return jsonify(
            {
                "payments": [p.to_json() for p in db.payments(subscription.id)],
                "refunds": [r.to_json() for r in db.refunds(subscription.id)],
                "disputes": [d.to_json() for d in db.disputes(subscription.id)],
            }
        )

    @app.post("/api/v1/subscriptions/<subscription_id>/cancel")
    def cancel(subscription_id: str) -> tuple[Response, int]:
        # 202: subscription.cancelled, not this answer, records the cancellation.
        return jsonify(service.cancel(subscription_id).to_json()), 202

    @app.post("/api/v1/subscriptions/<subscription_id>/refund")
    def refund(subscription_id: str) -> tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        if not isinstance(body, dict):
            raise ServiceError(400, "invalid_json", "Send a JSON object")
        key = request.headers.get("Idempotency-Key")
        made = service.refund(subscription_id, body.get("amount"), key)
        # 202: payment.refunded confirms it.
        return jsonify(made.to_json()), 202

    return app


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ServiceError(400, "invalid_json", "Send a JSON object")
    return body
