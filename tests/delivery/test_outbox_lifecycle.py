"""The delivery lifecycle, explored by hypothesis against a small model, on both stores.

Random sequences of accept (new and duplicate webhooks), claim, succeed, fail and retry,
with current and stale tokens, must leave every delivery exactly where the model says.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.delivery._support import LEASE, event, receipt
from tests.delivery.conftest import Store
from tests.stores._support import drop_schema
from vbwd_plugins.delivery import DeliveryStatus
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore

P, R, S, D = (
    DeliveryStatus.PENDING,
    DeliveryStatus.RUNNING,
    DeliveryStatus.SUCCEEDED,
    DeliveryStatus.DEAD,
)
DSN = os.environ.get("VBWD_TEST_POSTGRES_DSN", "").strip()
SETTINGS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class Expected:
    """What the model knows of one delivery."""

    status: DeliveryStatus
    attempts: int = 0
    #: The last token a claim handed out (outcomes with it may repeat), or None.
    token: str | None = None
    #: Whether a PENDING delivery is due now (its retry time has passed).
    due: bool = True


class OutboxMachine(RuleBasedStateMachine):
    """Drives one store and a dict model side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.store = self.open_store()
        self.model: dict[str, Expected] = {}
        self.order: list[str] = []  # every delivery id, in the order it was recorded
        self.webhooks: dict[str, tuple[str, ...]] = {}
        self.tokens: list[tuple[str, str]] = [("dlv_none", "never-issued")]

    def open_store(self) -> Store:
        raise NotImplementedError

    def teardown(self) -> None:
        self.store.close()

    def _pick(self, index: int) -> str:
        return self.order[index % len(self.order)]

    @rule(n=st.integers(0, 3), listeners=st.lists(st.sampled_from("abc"), unique=True))
    def accept(self, n: int, listeners: list[str]) -> None:
        """A webhook arrives (perhaps again): new ones record deliveries, repeats nothing."""
        event_id = f"evt_{n}"
        accepted = self.store.outbox_accept(
            receipt(event_id), [event(event_id, listeners=tuple(listeners))]
        )
        if event_id in self.webhooks:
            ids = self.webhooks[event_id]
            assert not accepted.new
            assert accepted.pending == tuple(i for i in ids if self.model[i].status in (P, R))
            assert accepted.dead == tuple(i for i in ids if self.model[i].status is D)
            return
        assert accepted.new and len(accepted.pending) == len(listeners)
        self.webhooks[event_id] = accepted.pending
        for did in accepted.pending:
            self.model[did] = Expected(P)
            self.order.append(did)

    @precondition(lambda self: bool(self.order))
    @rule(index=st.integers(0, 100), due_only=st.booleans())
    def claim(self, index: int, due_only: bool) -> None:
        """A runner claims a delivery: only a PENDING one, due unless ``due_only`` is off."""
        did = self._pick(index)
        expected = self.model[did]
        claim = self.store.delivery_claim(did, lease=LEASE, due_only=due_only)
        if expected.status is P and (expected.due or not due_only):
            assert claim is not None and claim.delivery.attempts == expected.attempts + 1
            expected.status, expected.attempts, expected.token = (
                R,
                expected.attempts + 1,
                claim.token,
            )
            self.tokens.append((did, claim.token))
        else:
            assert claim is None

    @precondition(lambda self: bool(self.order))
    @rule(index=st.integers(0, 100))
    def succeed(self, index: int) -> None:
        """Success is recorded only with the current token (again with it: same answer)."""
        did, token = self.tokens[index % len(self.tokens)]
        expected = self.model.get(did)
        ok = expected is not None and token == expected.token and expected.status in (R, S)
        assert self.store.delivery_succeed(did, token) is ok
        if ok and expected is not None:
            expected.status = S

    @precondition(lambda self: bool(self.order))
    @rule(index=st.integers(0, 100), retry=st.sampled_from(["dead", "due", "later"]))
    def fail(self, index: int, retry: str) -> None:
        """A failure is recorded only with the current token: PENDING at a time, or DEAD."""
        did, token = self.tokens[index % len(self.tokens)]
        now = datetime.now(UTC)
        retry_at = {"dead": None, "due": now - timedelta(seconds=1), "later": now + LEASE}[retry]
        target = D if retry_at is None else P
        expected = self.model.get(did)
        ok = expected is not None and token == expected.token and expected.status in (R, target)
        assert self.store.delivery_fail(did, token, f"Boom: {retry}", retry_at=retry_at) is ok
        if ok and expected is not None:
            expected.status, expected.due = target, retry != "later"

    @rule()
    def retry_dead(self) -> None:
        """An operator retries every dead delivery: PENDING, due, attempts kept, token void."""
        dead = [did for did in self.order if self.model[did].status is D]
        assert self.store.deliveries_retry() == dead
        for did in dead:
            self.model[did].status, self.model[did].due, self.model[did].token = P, True, None

    @invariant()
    def store_matches_model(self) -> None:
        """Every delivery's status and attempts, and the due list, are what the model says."""
        for did, expected in self.model.items():
            found = self.store.delivery_get(did)
            assert found is not None
            assert (found.status, found.attempts) == (expected.status, expected.attempts), did
        due = {d.id for d in self.store.deliveries_due(limit=1000)}
        assert due == {d for d, e in self.model.items() if e.status is P and e.due}


class SQLiteOutboxMachine(OutboxMachine):
    """The lifecycle on a fresh SQLite file per example."""

    def open_store(self) -> Store:
        self._folder = tempfile.TemporaryDirectory()
        return SQLiteStateStore(Path(self._folder.name) / "outbox.sqlite3")

    def teardown(self) -> None:
        super().teardown()
        self._folder.cleanup()


class PostgresOutboxMachine(OutboxMachine):
    """The lifecycle in a fresh PostgreSQL schema per example."""

    def open_store(self) -> Store:
        self._schema = f"vbwd_test_{uuid.uuid4().hex[:16]}"
        return PostgresStateStore(DSN, schema=self._schema)

    def teardown(self) -> None:
        super().teardown()
        drop_schema(DSN, self._schema)


TestSQLiteLifecycle = SQLiteOutboxMachine.TestCase
TestSQLiteLifecycle.settings = SETTINGS
TestPostgresLifecycle = pytest.mark.skipif(
    not DSN, reason="PostgreSQL store tests need VBWD_TEST_POSTGRES_DSN (CI sets it)"
)(PostgresOutboxMachine.TestCase)
TestPostgresLifecycle.settings = SETTINGS
