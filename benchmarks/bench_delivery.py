"""Durable delivery: the webhook acknowledge path against the store's bare durable commit.

Each delivery is the ~2.5 KB Stripe ``payment_intent.succeeded`` event of
``bench_stripe_webhook.py`` with its own event id, signed with Stripe's scheme, pushed through
``WebhookProcessor.process("stripe", headers, body)`` in one process (the vbwd-stripe plugin,
one listener on ``payment.completed``). Measured in interleaved rounds, on the same store:

* ``floor``: the bare durable INSERT + COMMIT of one row the size of the stored payload, on
  a connection of its own to the same database: SQLite, the same file at the same
  ``PRAGMA synchronous`` as the store's accept path (``FULL``, WAL), one ``BEGIN IMMEDIATE``
  transaction per row; PostgreSQL, the same server and schema, default settings.
* ``deferred``: verify, parse, translate, record the inbox row, the event and its delivery in
  one transaction, answer 200; the engine's ``submit`` only collects the ids.
* ``inline``: the same (the delivery recorded already claimed by the request's runner), then
  call a no-op listener and record its success (what a host without an engine runs) before
  answering 200.

The ratio of each round is taken against the floor of the same round; the median ratio over
the rounds is compared with the targets: deferred >= 0.5x the floor, inline >= 0.33x. Then
the acknowledge latency (p50/p99), deferred against inline, with a listener that sleeps
200 ms. Every delivery must be answered 200 and every listener call accounted for.

    python benchmarks/bench_delivery.py [--events 300] [--rounds 5] [--slow-events 25] [--check]

PostgreSQL runs too when ``VBWD_TEST_POSTGRES_DSN`` (or ``--postgres DSN``) is set.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from _bench_stores import postgres_store, sqlite_store
from bench_stripe_webhook import SECRET, realistic_event
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import sign_payload

from vbwd_plugins import Event, PluginManager, WebhookProcessor
from vbwd_plugins.config import FernetSecretBox

TARGETS = {"deferred": 0.5, "inline": 0.33}
TEMPLATE_ID = b"evt_3QkR8mLkdIwHu7ix0vJpN7Qa"
CONFIG = {
    "api_key": "sk_test_benchmark_key_not_used_for_requests",
    "webhook_secret": SECRET,
    "api_base": "http://127.0.0.1:9",  # never contacted
}
SLOW = 0.2  # seconds the slow listener sleeps
CHUNK = 20  # deliveries per runner in turn
Signed = tuple[dict[str, str], bytes]
BOX = FernetSecretBox([FernetSecretBox.generate_key()])  # seals the plugin's api_key


def deliveries(count: int, template: bytes) -> list[Signed]:
    """``count`` signed deliveries of the template event, each with a fresh event id."""
    stamp = int(time.time())
    made = []
    for _ in range(count):
        event_id = b"evt_" + uuid.uuid4().hex[: len(TEMPLATE_ID) - 4].encode()
        body = template.replace(TEMPLATE_ID, event_id)
        made.append(({"Stripe-Signature": sign_payload(body, SECRET, stamp)}, body))
    return made


class Collector:
    """A deferred engine that only keeps the submitted ids (nothing runs them)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def submit(self, delivery_ids: Sequence[str]) -> None:
        """Keep the ids."""
        self.ids.extend(delivery_ids)


class Pipeline:
    """The Stripe plugin, one listener and a webhook processor over ``store``."""

    def __init__(self, store: Any, *, deferred: bool, sleep: float = 0.0) -> None:
        self.calls = 0
        self.sleep = sleep
        self.engine = Collector() if deferred else None
        manager = PluginManager(store=store, secret_box=BOX)
        manager.register_plugin(StripePlugin())
        manager.initialize_plugin("stripe", CONFIG)
        manager.enable_plugin("stripe")
        name = "bench-" + uuid.uuid4().hex[:8]  # one store, several pipelines: own ids
        manager.event_dispatcher.add_listener("payment.completed", self._listener, id=name)
        manager.set_delivery_engine(self.engine)
        self.processor = WebhookProcessor(manager)

    def _listener(self, event: Event) -> None:
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)

    def expected(self, before: tuple[int, int], count: int) -> None:
        """Fail unless each delivery was submitted (deferred) or its listener ran (inline)."""
        calls, submitted = before
        done = self.calls - calls if self.engine is None else len(self.engine.ids) - submitted
        if done != count:
            raise AssertionError(f"{done} deliveries run or submitted for {count} webhooks")

    def mark(self) -> tuple[int, int]:
        """Counters to check a batch against."""
        return self.calls, 0 if self.engine is None else len(self.engine.ids)

    def run(self, batch: list[Signed]) -> float:
        """Seconds to push ``batch`` through; every answer must be 200."""
        process = self.processor.process
        before = self.mark()
        start = time.perf_counter()
        for headers, body in batch:
            if process("stripe", headers, body).status != 200:
                raise AssertionError("a valid delivery was not answered 200")
        elapsed = time.perf_counter() - start
        self.expected(before, len(batch))
        return elapsed

    def latencies(self, batch: list[Signed]) -> list[float]:
        """Seconds to answer each delivery of ``batch``."""
        process = self.processor.process
        before = self.mark()
        out = []
        for headers, body in batch:
            start = time.perf_counter()
            status = process("stripe", headers, body).status
            out.append(time.perf_counter() - start)
            if status != 200:
                raise AssertionError("a valid delivery was not answered 200")
        self.expected(before, len(batch))
        return out


# -- the floor ---------------------------------------------------------------------------------


class SQLiteFloor:
    """INSERT + COMMIT of one row on the store's file, at the store's accept-path settings."""

    def __init__(self, path: str) -> None:
        import sqlite3

        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # as outbox_accept's connection
        self.conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, body TEXT)")

    def run(self, batch: list[Signed]) -> float:
        """Seconds to commit one row per delivery, each in its own transaction."""
        execute = self.conn.execute
        rows = [(uuid.uuid4().hex, body.decode()) for _, body in batch]
        start = time.perf_counter()
        for row in rows:
            execute("BEGIN IMMEDIATE")
            execute("INSERT INTO bench_floor VALUES (?, ?)", row)
            execute("COMMIT")
        return time.perf_counter() - start

    def close(self) -> None:
        self.conn.close()


class PostgresFloor:
    """INSERT + COMMIT of one row in the store's schema, one connection, default settings."""

    def __init__(self, dsn: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self.conn = psycopg.connect(dsn)
        self.table = sql.Identifier(schema, "bench_floor")
        self.conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, body TEXT)").format(
                self.table
            )
        )
        self.conn.commit()
        self.insert = sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(self.table)

    def run(self, batch: list[Signed]) -> float:
        """Seconds to commit one row per delivery, each in its own transaction."""
        conn, insert = self.conn, self.insert
        rows = [(uuid.uuid4().hex, body.decode()) for _, body in batch]
        start = time.perf_counter()
        for row in rows:
            conn.execute(insert, row, prepare=True)
            conn.commit()
        return time.perf_counter() - start

    def close(self) -> None:
        self.conn.close()


@contextmanager
def floor_of(store: Any, dsn: str | None) -> Iterator[SQLiteFloor | PostgresFloor]:
    """The floor on the same database as ``store``."""
    floor: SQLiteFloor | PostgresFloor
    floor = SQLiteFloor(store._path) if dsn is None else PostgresFloor(dsn, store._schema)
    try:
        yield floor
    finally:
        floor.close()


# -- measuring ---------------------------------------------------------------------------------


def measure(
    runners: dict[str, Callable[[list[Signed]], float]],
    template: bytes,
    events: int,
    rounds: int,
    chunk: int = CHUNK,
) -> dict[str, list[float]]:
    """Events per second of each runner, one value per round (fresh deliveries each).

    A round interleaves the runners chunk by chunk (``chunk`` deliveries each, in a rotating
    order), so every runner sees the same machine noise and its share of WAL checkpoints.
    """
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():  # warm up (imports, prepared statements, caches)
        runner(deliveries(30, template))
    names = list(runners)
    for _ in range(rounds):
        batches = {name: deliveries(events, template) for name in names}
        spent = dict.fromkeys(names, 0.0)
        gc.collect()
        gc.disable()
        try:
            for start in range(0, events, chunk):
                names.append(names.pop(0))
                for name in names:
                    spent[name] += runners[name](batches[name][start : start + chunk])
        finally:
            gc.enable()
        for name in names:
            rates[name].append(events / spent[name])
    return rates


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def bench_store(
    label: str, store: Any, dsn: str | None, args: argparse.Namespace, template: bytes
) -> list[tuple[str, float, float]]:
    """Print one store's table; the (name, median ratio, target) of each target."""
    with floor_of(store, dsn) as floor:
        runners: dict[str, Callable[[list[Signed]], float]] = {
            "floor": floor.run,
            "deferred": Pipeline(store, deferred=True).run,
            "inline": Pipeline(store, deferred=False).run,
        }
        rates = measure(runners, template, args.events, args.rounds)
    ratios = {
        name: [rate / base for rate, base in zip(rates[name], rates["floor"], strict=True)]
        for name in TARGETS
    }
    print(f"\n[{label}] {args.rounds} rounds of {args.events} deliveries ({len(template)} bytes)")
    print(f"{'path':<48} {'events/s':>10} {'(best)':>10} {'x floor':>9}")
    names = {
        "floor": "bare INSERT+COMMIT (the floor)",
        "deferred": "deferred: verify, record, commit, answer",
        "inline": "inline: ... + no-op listener, succeed",
    }
    for name, values in rates.items():
        ratio = statistics.median(ratios[name]) if name in ratios else 1.0
        print(
            f"{names[name]:<48} {statistics.median(values):>10.0f} {max(values):>10.0f} "
            f"{ratio:>9.2f}"
        )
    slow_deferred = Pipeline(store, deferred=True, sleep=SLOW)
    slow_inline = Pipeline(store, deferred=False, sleep=SLOW)
    slow_deferred.latencies(deliveries(5, template))  # warm up
    lat = {
        "deferred": slow_deferred.latencies(deliveries(args.slow_events, template)),
        "inline": slow_inline.latencies(deliveries(args.slow_events, template)),
    }
    print(f"acknowledge latency, listener sleeping {SLOW * 1000:.0f} ms ({args.slow_events} each):")
    for name, values in lat.items():
        print(
            f"  {name:<9} p50 {percentile(values, 0.5) * 1000:8.2f} ms"
            f"   p99 {percentile(values, 0.99) * 1000:8.2f} ms"
        )
    return [(f"{label} {name}", statistics.median(ratios[name]), TARGETS[name]) for name in TARGETS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=300, help="deliveries per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slow-events", type=int, default=25, help="deliveries, latency part")
    parser.add_argument(
        "--postgres", metavar="DSN", default=os.environ.get("VBWD_TEST_POSTGRES_DSN")
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args, _unknown = parser.parse_known_args()  # run.py passes every benchmark the same args

    template = realistic_event()
    results = []
    with sqlite_store() as sqlite:
        results += bench_store("SQLite", sqlite, None, args, template)
    if args.postgres:
        with postgres_store(args.postgres) as pg:
            results += bench_store("PostgreSQL", pg, args.postgres, args, template)
    else:
        print("\n(PostgreSQL skipped: set VBWD_TEST_POSTGRES_DSN or pass --postgres DSN)")
    print("\nmedian ratio of each round to the floor of the same round:")
    failed = False
    for name, ratio, target in results:
        verdict = "PASS" if ratio >= target else "FAIL"
        failed = failed or verdict == "FAIL"
        print(f"  {name:<22} {ratio:5.2f}x the floor (target >= {target}x): {verdict}")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
