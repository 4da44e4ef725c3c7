"""The README's operator steps: ``config set`` and ``enable`` with the CLI, then the app as
``flask --app subscriptions_example run`` builds it, which follows later CLI changes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import subscriptions_example  # conftest.py makes it importable from a checkout

from vbwd_plugins.cli import main
from vbwd_plugins.config import FernetSecretBox

STRIPE_KEY = "sk_test_51OperatorStepsKey0000000000000001"
STRIPE_WEBHOOK_SECRET = "whsec_operator_steps_0001"
#: Generous bound for "the app noticed"; no assertion on how fast it was.
PATIENCE = 30.0


def test_the_app_follows_what_the_cli_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vbwd-plugins disable stripe` in another shell takes it out of the running app."""
    store = str(tmp_path / "vbwd-plugins.sqlite3")
    monkeypatch.setenv("VBWD_PLUGINS_STORE", store)
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", FernetSecretBox.generate_key())
    monkeypatch.setenv("SUBSCRIPTIONS_DB", str(tmp_path / "subscriptions.sqlite3"))
    setup = ["config", "set", "stripe", f"api_key={STRIPE_KEY}"]
    assert main([*setup, f"webhook_secret={STRIPE_WEBHOOK_SECRET}"]) == 0
    assert main(["enable", "stripe"]) == 0

    app = subscriptions_example.create_app()
    manager = app.extensions["subscriptions"].manager
    follower = app.extensions["vbwd_follower"]
    try:
        assert [p.metadata.name for p in manager.get_enabled_plugins()] == ["stripe"]
        assert main(["disable", "stripe"]) == 0
        deadline = time.monotonic() + PATIENCE
        while manager.get_enabled_plugins():
            assert time.monotonic() < deadline, "the app never saw stripe disabled"
            time.sleep(0.05)
        with app.test_client() as client:
            refused = client.post(
                "/api/v1/subscriptions",
                json={"user_id": "8d2c4e8a-5f0e-4a8e-9c3b-1f2d3e4a5b6c", "plan": "pro"},
            )
        assert refused.status_code == 400
        assert "enabled are none" in refused.get_json()["message"]
    finally:
        follower.stop()
        assert manager.store is not None
        manager.store.close()
