"""The fault scenario's report and its checks, read from the store, the ledger and the CLI.

See :mod:`tests.delivery._fault_scenario` for what is checked and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.delivery._fault_host import LISTENERS, always_fails, ledger_db, open_store
from vbwd_plugins.delivery import DeliveryStatus, delivery_id, idempotency_key

if TYPE_CHECKING:
    from pathlib import Path

    from tests.web._load_scenario import Delivery


@dataclass
class Setup:
    """Where and how big one run is."""

    mode: str  # "inline" (SQLite) or "deferred" (PostgreSQL + Celery)
    folder: Path
    deliveries: int
    threads: int = 8
    web_workers: int = 2
    celery_workers: int = 2
    celery_concurrency: int = 4
    postgres_dsn: str | None = None  # deferred
    redis_url: str = "redis://127.0.0.1:6379/15"
    client_timeout: float = 900.0  # the whole sending phase, at most
    settle_timeout: float = 180.0  # waiting for retries and sweeps, at most
    max_attempts: int = 4

    @property
    def name(self) -> str:
        """``"sqlite inline"`` or ``"postgres deferred+celery"``."""
        return "sqlite inline" if self.mode == "inline" else "postgres deferred+celery"


@dataclass
class Report:
    """What happened: answers, effects, calls, faults, and the violations found."""

    name: str
    deliveries: int = 0
    requests: int = 0
    connection_errors: int = 0
    elapsed: float = 0.0
    settle: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    answers: Counter[int] = field(default_factory=Counter)
    good_events: int = 0
    effects: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    repeated: Counter[str] = field(default_factory=Counter)  # keys called more than once
    statuses: Counter[str] = field(default_factory=Counter)
    dead_expected: int = 0
    dead_listed: int = 0
    faults: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return not self.violations

    def lines(self) -> list[str]:
        """The report as printable lines."""
        tag = f"[{self.name}]"
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items()))
        out = [
            f"{tag} {self.deliveries} deliveries ({kinds})",
            f"{tag} {self.requests} requests ({self.requests - self.deliveries} redeliveries, "
            f"{self.connection_errors} broken connections); final answers {answers}",
            f"{tag} sent in {self.elapsed:.1f} s ({self.deliveries / max(self.elapsed, 1e-9):.0f}"
            f" deliveries/s); settled {self.settle:.1f} s later",
            f"{tag} faults: {'; '.join(self.faults) or 'none'}",
            f"{tag} good events {self.good_events}; deliveries "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
        ]
        for listener in LISTENERS:
            out.append(
                f"{tag}   {listener:<13} effects {self.effects[listener]:>6} (exactly once), "
                f"calls {self.calls[listener]:>6} (at least once; "
                f"{self.repeated[listener]} keys called again)"
            )
        out.append(
            f"{tag} dead-lettered {self.statuses.get('dead', 0)} of {self.dead_expected} "
            f"always-failing; 'deliveries list --status dead' lists {self.dead_listed}"
        )
        out += [f"{tag} VIOLATION: {v}" for v in self.violations[:20]]
        if len(self.violations) > 20:
            out.append(f"{tag} ... and {len(self.violations) - 20} more violations")
        out.append(f"{tag} {'OK' if self.ok else 'FAIL'}")
        return out


# -- settling and checking ---------------------------------------------------------------------


def statuses_of(setup: Setup, env: dict[str, str]) -> Counter[str]:
    """Deliveries per status, read from the store's table."""
    query = "SELECT status, count(*) FROM {} GROUP BY status"
    if setup.mode == "inline":
        import sqlite3

        with sqlite3.connect(env["VBWD_FAULT_STORE"], timeout=30) as conn:
            rows = conn.execute(query.format("vbwd_deliveries")).fetchall()
    else:
        import psycopg

        table = f'"{env["VBWD_FAULT_SCHEMA"]}".vbwd_deliveries'
        with psycopg.connect(setup.postgres_dsn or "", autocommit=True) as conn:
            rows = conn.execute(query.format(table).encode()).fetchall()
    return Counter(dict(rows))


def settle(setup: Setup, env: dict[str, str], expected: int, report: Report) -> None:
    """Wait until every delivery is recorded and none is pending or running (bounded)."""
    deadline = time.monotonic() + setup.settle_timeout
    unfinished = {DeliveryStatus.PENDING.value, DeliveryStatus.RUNNING.value}
    while True:
        statuses = statuses_of(setup, env)
        waiting = sum(statuses[s] for s in unfinished)
        if (waiting == 0 and sum(statuses.values()) >= expected) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    report.statuses = statuses
    if waiting:
        report.violations.append(f"{waiting} deliveries still pending or running: {statuses}")


def _dead_listed(setup: Setup, env: dict[str, str], limit: int) -> set[str] | str:
    """The ids ``vbwd-plugins deliveries list --status dead`` prints (JSON), run as a command;
    its error output if it fails."""
    argv = [sys.executable, "-m", "vbwd_plugins", "--store", env["VBWD_FAULT_STORE"]]
    if setup.mode == "deferred":
        argv += ["--pg-schema", env["VBWD_FAULT_SCHEMA"]]
    argv += ["deliveries", "list", "--status", "dead", "--limit", str(limit), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        return f"exit status {done.returncode}: {done.stderr.strip()[-500:]}"
    return {row["id"] for row in json.loads(done.stdout)}


def check(
    setup: Setup, env: dict[str, str], work: list[Delivery], good: list[str], report: Report
) -> None:
    uids = {event_id: f"stripe:{event_id}:0" for event_id in good}
    expected_effects = {
        idempotency_key(uid, listener): (listener, event_id)
        for event_id, uid in uids.items()
        for listener in LISTENERS
        if listener != "always-fails" or not always_fails(event_id)
    }
    dead = {delivery_id(uid, "always-fails") for eid, uid in uids.items() if always_fails(eid)}
    report.dead_expected = len(dead)
    ledger = ledger_db(env["VBWD_FAULT_LEDGER"])
    try:
        effects = {
            key: (listener, event_id)
            for key, listener, event_id in ledger.execute(
                "SELECT key, listener, event_id FROM effects"
            )
        }
        for listener, calls, keys, again in ledger.execute(
            "SELECT listener, count(*), count(DISTINCT key), "
            "(SELECT count(*) FROM (SELECT key FROM calls c2 WHERE c2.listener = c.listener "
            "GROUP BY key HAVING count(*) > 1)) FROM calls c GROUP BY listener"
        ):
            report.calls[listener], report.repeated[listener] = calls, again
            del keys
    finally:
        ledger.close()
    report.effects = Counter(listener for listener, _ in effects.values())
    missing = [expected_effects[k] for k in expected_effects.keys() - effects.keys()]
    extra = [effects[k] for k in effects.keys() - expected_effects.keys()]
    report.violations += [f"effect missing: {who} for {eid}" for who, eid in missing[:10]]
    report.violations += [f"unexpected effect: {who} for {eid}" for who, eid in extra[:10]]
    store = open_store()
    try:
        dead_found = {d.id for d in store.deliveries_list(status=DeliveryStatus.DEAD, limit=10**6)}
        for event_id in good:
            if store.inbox_get("stripe", event_id) is None:
                report.violations.append(f"good event {event_id} is not in the inbox")
            found = store.deliveries_of_webhook("stripe", event_id)
            if len(found) != len(LISTENERS):
                report.violations.append(f"good event {event_id}: {len(found)} deliveries")
        good_set = set(good)
        for delivery in work:
            if (
                delivery.kind in ("bad_signature", "malformed")
                and delivery.event_id not in good_set
            ) and store.inbox_get("stripe", delivery.event_id) is not None:
                report.violations.append(f"{delivery.kind} {delivery.event_id} was recorded")
    finally:
        store.close()
    if dead_found != dead:
        report.violations.append(
            f"dead deliveries: {len(dead_found - dead)} unexpected, {len(dead - dead_found)} "
            "always-failing ones not dead"
        )
    listed = _dead_listed(setup, env, limit=max(100, 2 * len(dead)))
    if isinstance(listed, str):
        report.violations.append(f"'deliveries list --status dead' failed: {listed}")
        return
    report.dead_listed = len(listed)
    if listed != dead:
        report.violations.append(
            f"'deliveries list --status dead' listed {len(listed)}, expected {len(dead)}"
        )
