"""The webhook inbox (list, replay, purge), key rotation and doctor from the shell."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests._support import DistFactory
from tests.cli import _webhook_host as host
from tests.cli.conftest import GROUP, SECRET, Run
from vbwd_plugins import PaymentEventType, PluginManager, SQLiteStateStore, WebhookProcessor
from vbwd_plugins.cli import build_parser
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.delivery._runner import DeliveryRunner, RunOutcome
from vbwd_plugins.testing import MockPaymentPlugin

STORE = "vbwd-plugins.sqlite3"
FACTORY = "tests.cli._webhook_host:make_manager"
CELERY = "tests.cli._webhook_host:app"
LEASE = timedelta(minutes=5)
#: A stored payload the mock cannot translate (an amount that is not a number).
GARBLED = '{"id": "evt_garbled", "type": "payment.completed", "data": {"amount": "lots"}}'


@pytest.fixture
def mock_dist(make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The testing kit's mock provider, installed as plugin ``mock`` in the test group; the
    host factory uses the CLI's store and its listener fails until the host is fixed."""
    monkeypatch.setenv("VBWD_PLUGINS_STORE", str(Path.cwd() / STORE))
    monkeypatch.delenv("WEBHOOK_HOST_FIXED", raising=False)
    host.app.sent.clear()
    return make_dist(
        "cli-mock", "1.0.0", {"mock": "vbwd_plugins.testing:MockPaymentPlugin"}, group=GROUP
    )


def enable_mock() -> None:
    """Enable ``mock`` in the default store."""
    with SQLiteStateStore(STORE) as store:
        manager = PluginManager(group=GROUP, store=store)
        manager.discover()
        manager.enable_plugins(["mock"])


def failed_delivery(*, dead: bool = False) -> tuple[str, str]:
    """Deliver one webhook whose host listener fails: (event id, delivery id). ``dead``: then
    run it once more under a one-attempt policy, so that it is dead."""
    enable_mock()
    manager = host.make_manager()
    try:
        mock = MockPaymentPlugin()
        body = mock.webhook_body(
            PaymentEventType.COMPLETED,
            transaction_id="tx_9",
            amount=500,
            currency="USD",
            subscription_id=str(uuid.uuid4()),
        )
        delivery = mock.webhook_delivery(body)
        response = WebhookProcessor(manager).process("mock", delivery.headers, delivery.body)
        assert response.status == 500
        event_id = str(json.loads(body)["id"])
        store = manager.store
        assert isinstance(store, SQLiteStateStore)
        (one,) = store.deliveries_of_webhook("mock", event_id)
        if dead:
            runner = DeliveryRunner(
                store, manager.event_dispatcher, policy=RetryPolicy(max_attempts=1)
            )
            assert runner.run(one.id, due_only=False).outcome is RunOutcome.DEAD
        return event_id, one.id
    finally:
        assert manager.store is not None
        manager.store.close()


def delivery_statuses() -> list[str]:
    """The status of every delivery in the store."""
    with SQLiteStateStore(STORE) as store:
        return [delivery.status.value for delivery in store.deliveries_list()]


@pytest.mark.usefixtures("mock_dist")
def test_inbox_list_replay_and_purge(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook whose listener failed is listed with its deliveries, replayed with the host's
    listeners (with progress) and, once every delivery succeeded, purged."""
    event_id, _ = failed_delivery()
    code, out, _ = cli("inbox", "list", "--unfinished")
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split() == [
        "RECEIVED", "PROVIDER", "EVENT", "ID", "TYPE", "STATUS", "DELIVERIES", "LAST", "ERROR"
    ]  # fmt: skip
    assert "mock" in row and event_id in row and "recorded" in row and "1 pending" in row
    assert f"{host.LISTENER}: RuntimeError: subscriptions table locked" in row

    code, out, err = cli("inbox", "replay", "mock", "evt_unknown")
    assert code == 1 and "404" in out and "not handled" in err

    code, _, err = cli("inbox", "replay", "--unfinished")  # without the host's listeners
    assert code == 1 and f"listener '{host.LISTENER}', which no enabled plugin has" in err
    assert "--factory MODULE:FUNC" in err and delivery_statuses() == ["pending"]

    monkeypatch.setenv("WEBHOOK_HOST_FIXED", "1")
    code, out, err = cli("inbox", "replay", "--unfinished", "--factory", FACTORY)
    assert code == 0, err
    assert f"[1/1] mock {event_id}: 200 processed" in out
    assert out.strip().endswith("Replayed 1 event(s) (run here).")
    code, out, _ = cli("inbox", "list", "--json")
    (record,) = json.loads(out)
    assert record["status"] == "recorded" and record["last_error"] is None
    assert record["deliveries"] == {"pending": 0, "running": 0, "succeeded": 1, "dead": 0}
    assert cli("inbox", "list", "--unfinished")[1].strip() == (
        "No webhook events with unfinished deliveries."
    )

    with sqlite3.connect(STORE) as db:  # as if recorded two minutes ago
        db.execute("UPDATE webhook_inbox SET updated_at = updated_at - 120")
    db.close()
    code, out, _ = cli("inbox", "purge", "--older-than", "1m")
    assert code == 0 and out.strip().splitlines()[-1] == "Purged 1 event(s)."
    assert "No webhook events" in cli("inbox", "list")[1]


@pytest.mark.usefixtures("mock_dist")
def test_inbox_replay_on_celery_revives_dead_deliveries_and_enqueues_them(cli: Run) -> None:
    """``--celery`` makes the dead delivery pending and hands it to the host's workers."""
    event_id, delivery = failed_delivery(dead=True)
    code, out, _ = cli("inbox", "list", "--unfinished", "--provider", "mock", "--json")
    assert [(row["event_id"], row["deliveries"]["dead"]) for row in json.loads(out)] == [
        (event_id, 1)
    ]
    code, out, err = cli("inbox", "replay", "mock", event_id, "--celery", CELERY)
    assert code == 0, err
    assert f"[1/1] mock {event_id}: 200 accepted" in out
    assert out.strip().endswith("Replayed 1 event(s) (enqueued on Celery).")
    assert host.app.sent == [("vbwd_plugins.deliver", (delivery,))]
    assert delivery_statuses() == ["pending"]


@pytest.mark.usefixtures("mock_dist")
def test_inbox_list_filters(cli: Run) -> None:
    """``--status`` is the inbox row's; ``--unfinished`` and ``--status`` exclude each other."""
    failed_delivery()
    assert len(json.loads(cli("inbox", "list", "--status", "recorded", "--json")[1])) == 1
    assert cli("inbox", "list", "--status", "failed")[1].strip() == (
        "No webhook events with status failed."
    )
    assert cli("inbox", "list", "--unfinished", "--provider", "other")[1].startswith("No webhook")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inbox", "list", "--unfinished", "--status", "failed"])
    code, _, err = cli("inbox", "list", "--limit", "0")
    assert code == 1 and "--limit must be at least 1" in err


@pytest.mark.usefixtures("mock_dist")
def test_inbox_replay_records_a_webhook_received_before_deliveries(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAILED row of the old pipeline gets its deliveries on replay, with the host's
    listeners: ``--celery`` is refused (it has none), ``--factory`` records and runs them."""
    enable_mock()
    body = MockPaymentPlugin().webhook_body(
        PaymentEventType.COMPLETED, transaction_id="tx_1", amount=500, currency="USD"
    )
    event_id = str(json.loads(body)["id"])
    with SQLiteStateStore(STORE) as store:
        for key, payload in ((event_id, body.decode()), ("evt_garbled", GARBLED)):
            claim = store.inbox_claim("mock", key, event_type=None, payload=payload, lease=LEASE)
            assert claim.token is not None
            assert store.inbox_fail("mock", key, claim.token, "RuntimeError: old pipeline")
    code, out, _ = cli("inbox", "list", "--unfinished")
    assert code == 0 and len(out.strip().splitlines()) == 3
    assert "failed" in out and "none" in out and "RuntimeError: old pipeline" in out

    code, _, err = cli("inbox", "replay", "--unfinished", "--celery", CELERY)
    assert code == 1 and "received before deliveries were recorded" in err
    assert "--factory" in err and host.app.sent == []

    monkeypatch.setenv("WEBHOOK_HOST_FIXED", "1")
    code, out, err = cli("inbox", "replay", "mock", event_id, "evt_garbled", "--factory", FACTORY)
    assert code == 1 and "1 of 2 event(s) were not handled" in err
    assert f"mock {event_id}: 200 processed" in out
    assert "mock evt_garbled: 500 error (could not translate the event)" in out
    code, out, _ = cli("inbox", "list", "--json")
    rows = {row["event_id"]: row for row in json.loads(out)}
    assert rows[event_id]["status"] == "recorded" and rows[event_id]["attempts"] == 2
    assert rows[event_id]["deliveries"]["succeeded"] == 1
    assert rows["evt_garbled"]["status"] == "failed"


def test_inbox_commands_without_a_store(cli: Run) -> None:
    """Without a store there is nothing to list, purge or replay, and no file is created."""
    assert cli("inbox", "list")[1].startswith("No webhook events")
    assert cli("inbox", "list", "--unfinished")[1].startswith("No webhook events")
    assert "nothing to purge" in cli("inbox", "purge", "--older-than", "30d")[1]
    code, _, err = cli("inbox", "replay", "--unfinished")
    assert code == 1 and "nothing to replay" in err
    assert list(Path.cwd().iterdir()) == []


@pytest.mark.usefixtures("plugins")
def test_keys_rotate_shows_progress_and_retires_the_old_key(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After rotating to a new first key the old key can go; doctor checks they decrypt."""
    old, new = FernetSecretBox.generate_key(), FernetSecretBox.generate_key()
    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", old)
    assert cli("config", "set", "keyed", f"api_key={SECRET}")[0] == 0

    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", new)
    code, out, _ = cli("doctor")
    assert code == 1 and "keyed: Plugin 'keyed': stored secrets cannot be decrypted" in out

    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", f"{new},{old}")
    code, out, _ = cli("keys", "rotate")
    assert code == 0
    assert "[1/1] Re-encrypted the secrets of plugin 'keyed'" in out
    assert out.strip().splitlines()[-1] == "Done: 1 re-encrypted, 0 already under the current key."

    monkeypatch.setenv("VBWD_PLUGINS_SECRET_KEYS", new)
    code, out, _ = cli("doctor")
    assert code == 0, out
    assert "keyed: stored secrets decrypt" in out


def test_keys_rotate_needs_a_key(cli: Run) -> None:
    """Rotation without any configured key is one error line."""
    with SQLiteStateStore(STORE):
        pass
    code, _, err = cli("keys", "rotate")
    assert code == 1 and "VBWD_PLUGINS_SECRET_KEYS" in err and len(err.splitlines()) == 1


BROKEN = """
from vbwd_plugins import (
    BasePlugin,
    PluginMetadata,
)

class NeedsNewer(BasePlugin):
    metadata = PluginMetadata("needy", "1.0.0", "t", "needs zbase 5", ["zbase>=5"])
"""


@pytest.mark.usefixtures("plugins")
def test_doctor_finds_problems(cli: Run, make_dist: DistFactory) -> None:
    """A plugin that fails to load and an unsatisfiable dependency are error lines; exit 1."""
    code, out, _ = cli("doctor")
    assert code == 0 and out.strip().endswith("doctor: no problems found")
    make_dist("cli-broken", "0.1", {"broken": "cli_broken_mod:Nope"}, group=GROUP)
    make_dist(
        "cli-needy",
        "0.1",
        {"needy": "cli_needy:NeedsNewer"},
        modules={"cli_needy": BROKEN},
        group=GROUP,
    )
    code, out, _ = cli("doctor")
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("error")]
    assert any("broken:" in line and "cli-broken" in line for line in errors)
    assert any("needy" in line and "'zbase' is version 1.0.0" in line for line in errors)
    assert out.strip().splitlines()[-1] == "doctor: 2 problem(s) found"
    assert "Traceback" not in out


@pytest.mark.usefixtures("plugins")
def test_doctor_finds_name_conflicts(cli: Run, make_dist: DistFactory) -> None:
    """Two distributions claiming one plugin name is an error naming both."""
    make_dist("cli-other", "0.2", {"zbase": "cli_plugins:Base"}, group=GROUP)
    code, out, _ = cli("doctor")
    assert code == 1
    assert any(
        line.startswith("error") and "zbase: name claimed by" in line and "cli-other" in line
        for line in out.splitlines()
    )
