"""The webhook inbox (list, replay, purge), key rotation and doctor from the shell."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests._support import DistFactory
from tests.cli.conftest import GROUP, SECRET, Run
from vbwd_plugins import (
    Event,
    PaymentEventType,
    PluginManager,
    SQLiteStateStore,
    WebhookProcessor,
)
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.testing import MockPaymentPlugin

STORE = "vbwd-plugins.sqlite3"


@pytest.fixture
def mock_dist(make_dist: DistFactory) -> Path:
    """The testing kit's mock provider, installed as plugin ``mock`` in the test group."""
    return make_dist(
        "cli-mock", "1.0.0", {"mock": "vbwd_plugins.testing:MockPaymentPlugin"}, group=GROUP
    )


def failed_delivery() -> str:
    """Enable ``mock`` in the default store and deliver one event whose listener fails."""
    with SQLiteStateStore(STORE) as store:
        manager = PluginManager(group=GROUP, store=store)
        manager.discover()
        manager.enable_plugins(["mock"])

        def broken(event: Event) -> None:
            raise RuntimeError("subscriptions table locked")

        manager.event_dispatcher.add_listener("payment.completed", broken)
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
        return str(json.loads(body)["id"])


@pytest.mark.usefixtures("mock_dist")
def test_inbox_list_replay_and_purge(cli: Run) -> None:
    """A failed event is listed, replayed (with progress) and, once processed, purged."""
    event_id = failed_delivery()
    code, out, _ = cli("inbox", "list", "--status", "failed")
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split()[:4] == ["RECEIVED", "PROVIDER", "EVENT", "ID"]
    assert "mock" in row and event_id in row and "failed" in row
    assert "RuntimeError: subscriptions table locked" in row

    code, out, err = cli("inbox", "replay", "mock", "evt_unknown")
    assert code == 1 and "404" in out and "not handled" in err

    code, out, err = cli("inbox", "replay", "--failed")
    assert code == 0, err
    assert f"[1/1] mock {event_id}: 200 processed" in out
    code, out, _ = cli("inbox", "list", "--json")
    (record,) = json.loads(out)
    assert record["status"] == "processed" and record["attempts"] == 2

    code, out, _ = cli("inbox", "purge", "--older-than", "0s")
    assert code == 0 and out.strip().splitlines()[-1] == "Purged 1 event(s)."
    assert "No webhook events" in cli("inbox", "list")[1]


def test_inbox_commands_without_a_store(cli: Run) -> None:
    """Without a store there is nothing to list, purge or replay, and no file is created."""
    assert cli("inbox", "list")[1].startswith("No webhook events")
    assert "nothing to purge" in cli("inbox", "purge", "--older-than", "30d")[1]
    code, _, err = cli("inbox", "replay", "--failed")
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
