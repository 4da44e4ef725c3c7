"""``vbwd-plugins deliveries``: list, show, retry, purge and sweep each listener's deliveries."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli import _delivery_host as host
from tests.cli.conftest import Run
from vbwd_plugins import Event, SQLiteStateStore
from vbwd_plugins.cli import build_parser
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.delivery._policy import RetryPolicy
from vbwd_plugins.delivery._runner import DeliveryRunner, RunOutcome

FACTORY = "tests.cli._delivery_host:make_manager"


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store every command (and the host factory) uses, and the flaky listener's ledger."""
    path = tmp_path / "deliveries.sqlite3"
    monkeypatch.setenv("VBWD_PLUGINS_STORE", str(path))
    monkeypatch.setenv("DELIVERY_HOST_LEDGER", str(tmp_path / "ledger.txt"))
    monkeypatch.delenv("DELIVERY_HOST_FIXED", raising=False)
    return path


def publish(store_path: Path, *, dead: bool) -> dict[str, str]:
    """Publish one ``order.placed``: ``steady`` succeeds, ``flaky`` fails (and is made dead
    by one more run under a one-attempt policy). Returns the delivery ids by listener."""
    manager = host.make_manager()
    try:
        manager.publish(Event(host.EVENT, {"order": 7}))
        store = manager.store
        assert isinstance(store, SQLiteStateStore)
        ids = {d.listener_id: d.id for d in store.deliveries_list()}
        if dead:
            runner = DeliveryRunner(
                store, manager.event_dispatcher, policy=RetryPolicy(max_attempts=1)
            )
            assert runner.run(ids["flaky"], due_only=False).outcome is RunOutcome.DEAD
        return ids
    finally:
        assert manager.store is not None
        manager.store.close()


def statuses(store_path: Path) -> dict[str, str]:
    """Each listener's delivery status, read from the store."""
    with SQLiteStateStore(store_path) as store:
        return {d.listener_id: d.status.value for d in store.deliveries_list()}


def ledger(store_path: Path) -> list[str]:
    """The flaky listener's recorded effects."""
    path = store_path.parent / "ledger.txt"
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def test_list_filters_and_json(cli: Run, store_path: Path) -> None:
    """``list`` shows every delivery with its last error; filters narrow it; --json has fields."""
    ids = publish(store_path, dead=True)
    code, out, _ = cli("deliveries", "list")
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:5] == ["UPDATED", "ID", "EVENT", "LISTENER", "STATUS"]
    assert len(rows) == 2
    (dead_row,) = [row for row in rows if ids["flaky"] in row]
    assert "dead" in dead_row and "RuntimeError: warehouse API unavailable" in dead_row

    code, out, _ = cli("deliveries", "list", "--status", "dead", "--json")
    (only,) = json.loads(out)
    assert only["id"] == ids["flaky"] and only["listener_id"] == "flaky"
    assert only["status"] == "dead" and only["attempts"] == 2
    assert len(only["idempotency_key"]) == 64
    _, out, _ = cli("deliveries", "list", "--listener", "steady", "--json")
    assert [row["id"] for row in json.loads(out)] == [ids["steady"]]
    _, out, _ = cli("deliveries", "list", "--event", "other.event")
    assert out.strip() == "No deliveries."


def test_list_without_a_store_creates_none(cli: Run, store_path: Path) -> None:
    """Listing an absent SQLite store prints nothing found and does not create the file."""
    code, out, _ = cli("deliveries", "list", "--status", "dead")
    assert code == 0 and out.strip() == "No deliveries with status dead."
    assert not store_path.exists()


def test_show_prints_the_delivery_and_its_event(cli: Run, store_path: Path) -> None:
    """``show`` prints the delivery's fields and the event it delivers; unknown ids fail."""
    ids = publish(store_path, dead=False)
    code, out, _ = cli("deliveries", "show", ids["flaky"])
    assert code == 0
    assert f"id: {ids['flaky']}" in out and "status: pending" in out
    assert '"order": 7' in out
    code, out, _ = cli("deliveries", "show", ids["flaky"], "--json")
    data = json.loads(out)
    assert data["delivery"]["listener_id"] == "flaky"
    assert data["event"]["name"] == host.EVENT and data["event"]["source"] == "publish"
    code, _, err = cli("deliveries", "show", "dlv_nope")
    assert code == 1 and "no delivery 'dlv_nope'" in err


def test_retry_one_makes_it_due_for_the_next_sweep(cli: Run, store_path: Path) -> None:
    """Without a runner, ``retry ID`` only makes the dead delivery pending again."""
    ids = publish(store_path, dead=True)
    code, out, _ = cli("deliveries", "retry", ids["flaky"])
    assert code == 0 and "Retried 1 deliveries (due: they run at the next sweep)." in out
    assert statuses(store_path) == {"steady": "succeeded", "flaky": "pending"}
    assert ledger(store_path) == []


def test_retry_refuses_succeeded_and_ambiguous_selections(cli: Run, store_path: Path) -> None:
    """A succeeded delivery is never run again; exactly one selection must be given."""
    ids = publish(store_path, dead=True)
    code, _, err = cli("deliveries", "retry", ids["steady"])
    assert code == 1 and "succeeded" in err and "never run again" in err
    code, _, err = cli("deliveries", "retry", ids["flaky"], "--all-dead")
    assert code == 1 and "one delivery ID, --listener ID or --all-dead" in err
    code, _, err = cli("deliveries", "retry", "dlv_nope")
    assert code == 1 and "No delivery 'dlv_nope'" in err
    assert statuses(store_path) == {"steady": "succeeded", "flaky": "dead"}


def test_retry_all_dead_with_the_host_factory_runs_them_here(
    cli: Run, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--factory`` runs the retried deliveries now, with the host's listeners."""
    ids = publish(store_path, dead=True)
    monkeypatch.setenv("DELIVERY_HOST_FIXED", "1")
    code, out, err = cli("deliveries", "retry", "--all-dead", "--factory", FACTORY, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["retried"] == [ids["flaky"]] and data["where"] == "run here"
    assert [r["outcome"] for r in data["results"]] == ["succeeded"]
    assert statuses(store_path) == {"steady": "succeeded", "flaky": "succeeded"}
    assert len(ledger(store_path)) == 1


def test_retry_by_listener_reports_a_failing_run(
    cli: Run, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``retry --listener`` picks that listener's dead deliveries; a run that fails exits 1."""
    ids = publish(store_path, dead=True)
    code, out, _ = cli("deliveries", "retry", "--listener", "flaky", "--factory", FACTORY)
    assert code == 1
    assert f"{ids['flaky']}: retry (RuntimeError: warehouse API unavailable)" in out
    assert statuses(store_path)["flaky"] == "pending"
    code, out, _ = cli("deliveries", "retry", "--listener", "steady")
    assert code == 0 and "Retried 0 deliveries" in out


def test_factory_errors_are_one_line(cli: Run, store_path: Path) -> None:
    """A bad ``--factory`` names what is wrong with it."""
    publish(store_path, dead=True)
    code, _, err = cli("deliveries", "sweep", "--factory", "tests.cli._delivery_host")
    assert code == 1 and "give MODULE:NAME" in err
    code, _, err = cli("deliveries", "sweep", "--factory", "no_such_module_x:f")
    assert code == 1 and "cannot import 'no_such_module_x'" in err
    code, _, err = cli("deliveries", "sweep", "--factory", "tests.cli._delivery_host:nope")
    assert code == 1 and "has no 'nope'" in err
    code, _, err = cli("deliveries", "sweep", "--factory", "tests.cli._delivery_host:not_a_factory")
    assert code == 1 and "is not callable" in err


def test_sweep_needs_a_runner_and_runs_due_deliveries(
    cli: Run, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sweep`` says where to run; with ``--factory`` it runs the due deliveries here."""
    ids = publish(store_path, dead=True)
    code, _, err = cli("deliveries", "sweep")
    assert code == 1 and "--celery MODULE:APP" in err and "--factory MODULE:FUNC" in err
    assert cli("deliveries", "retry", ids["flaky"])[0] == 0
    monkeypatch.setenv("DELIVERY_HOST_FIXED", "1")
    code, out, err = cli("deliveries", "sweep", "--factory", FACTORY, "--json")
    assert code == 0, err
    assert json.loads(out)["swept"] == [ids["flaky"]]
    assert statuses(store_path)["flaky"] == "succeeded"
    code, out, _ = cli("deliveries", "sweep", "--factory", FACTORY)
    assert code == 0 and "Swept 0 deliveries (run here)." in out


def test_purge_deletes_old_succeeded_deliveries_only(cli: Run, store_path: Path) -> None:
    """``purge --older-than`` parses durations like ``inbox purge`` and keeps unfinished ones."""
    publish(store_path, dead=True)
    code, out, _ = cli("deliveries", "purge", "--older-than", "30d")
    assert code == 0 and "Purged 0 deliveries." in out
    with sqlite3.connect(store_path) as db:  # every delivery finished two days ago
        db.execute("UPDATE vbwd_deliveries SET updated_at = updated_at - 172800")
    db.close()
    code, out, _ = cli("deliveries", "purge", "--older-than", "1d")
    assert code == 0 and "Purged 1 deliveries." in out
    assert statuses(store_path) == {"flaky": "dead"}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["deliveries", "purge", "--older-than", "soon"])


def test_status_choices_match_the_model() -> None:
    """The parser offers exactly the delivery statuses of the model."""
    parser = build_parser()
    args = parser.parse_args(["deliveries", "list", "--status", "dead"])
    assert args.status == "dead"
    for status in DeliveryStatus:
        assert parser.parse_args(["deliveries", "list", "--status", status.value]).status
    with pytest.raises(SystemExit):
        parser.parse_args(["deliveries", "list", "--status", "failed"])
