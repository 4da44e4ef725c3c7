"""Webhook pipeline throughput: verify, inbox commit, handle, dispatch; vs construct_event.

Each delivery is a realistic ~2.5 KB Stripe ``payment_intent.succeeded`` event with its own
event id, signed with Stripe's scheme. Measured in one process, in interleaved rounds:

* ``pipeline (SQLite)``: ``WebhookProcessor.process("stripe", headers, body)`` with the
  vbwd-stripe plugin and a ``SQLiteStateStore`` file on disk as the inbox: signature
  check, parse, the inbox claim (one ``BEGIN IMMEDIATE`` commit), translation to
  ``payment.completed``, dispatch to one listener, the mark-processed commit.
  Inbox commits use the store's default ``synchronous=NORMAL`` (WAL): a committed row
  survives a process crash (see docs/webhooks.md).
* ``stripe.Webhook.construct_event``: the SDK's verify + parse alone, on the same deliveries.
* ``pipeline (PostgreSQL)`` when ``VBWD_TEST_POSTGRES_DSN`` or ``--postgres DSN`` is given
  (own schema, dropped afterwards); reported without a target.
* ``pipeline (SQLite, synchronous=FULL)``: every inbox commit flushed to disk; reported
  without a target (its cost is the disk's flush latency).

Every delivery must be answered 200 and the listener must run once per event, or the
script fails. Target: the SQLite pipeline handles more events per second than
``construct_event`` verifies.

    python benchmarks/bench_webhook_pipeline.py [--events 400] [--rounds 5] [--check]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import stripe
from _bench_stores import postgres_store, sqlite_store
from bench_stripe_webhook import SECRET, realistic_event
from vbwd_stripe.testing import sign_payload

from vbwd_plugins import (
    PluginManager,
    WebhookProcessor,
)

TEMPLATE_ID = b"evt_3QkR8mLkdIwHu7ix0vJpN7Qa"
CONFIG = {
    "api_key": "sk_test_benchmark_key_not_used_for_requests",
    "webhook_secret": SECRET,
    "api_base": "http://127.0.0.1:9",  # never contacted
}
Delivery = tuple[dict[str, str], bytes]


def deliveries(count: int, template: bytes) -> list[Delivery]:
    """``count`` signed deliveries of the template event, each with a fresh event id."""
    stamp = int(time.time())
    made = []
    for _ in range(count):
        event_id = b"evt_" + uuid.uuid4().hex[: len(TEMPLATE_ID) - 4].encode()
        body = template.replace(TEMPLATE_ID, event_id)
        made.append(({"Stripe-Signature": sign_payload(body, SECRET, stamp)}, body))
    return made


class Pipeline:
    """A manager with the enabled Stripe plugin, one listener and a processor on ``store``."""

    def __init__(self, store: Any) -> None:
        from vbwd_stripe import StripePlugin

        self.store = store
        self.handled = 0
        manager = PluginManager()
        manager.register_plugin(StripePlugin())
        manager.initialize_plugin("stripe", CONFIG)
        manager.enable_plugin("stripe")
        manager.event_dispatcher.add_listener("payment.completed", self._listener)
        self.processor = WebhookProcessor(manager, inbox=store)

    def _listener(self, event: Any) -> None:
        self.handled += 1

    def run(self, batch: list[Delivery]) -> float:
        """Seconds to push ``batch`` through the pipeline; every answer must be 200."""
        process = self.processor.process
        before = self.handled
        start = time.perf_counter()
        for headers, body in batch:
            if process("stripe", headers, body).status != 200:
                raise AssertionError("the pipeline refused a valid delivery")
        elapsed = time.perf_counter() - start
        if self.handled - before != len(batch):
            raise AssertionError("the listener did not run exactly once per event")
        return elapsed


def construct_event(batch: list[Delivery]) -> float:
    """Seconds for ``stripe.Webhook.construct_event`` over ``batch``."""
    construct = stripe.Webhook.construct_event
    start = time.perf_counter()
    for headers, body in batch:
        construct(body, headers["Stripe-Signature"], SECRET)
    return time.perf_counter() - start


def measure(
    runners: dict[str, Callable[[list[Delivery]], float]],
    template: bytes,
    events: int,
    rounds: int,
) -> dict[str, list[float]]:
    """Events per second of each runner, one value per round (fresh deliveries each)."""
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():  # warm up (imports, prepared statements, caches)
        runner(deliveries(20, template))
    for round_no in range(rounds):
        names = list(runners)
        if round_no % 2:
            names.reverse()
        for name in names:
            batch = deliveries(events, template)
            gc.collect()
            gc.disable()
            try:
                seconds = runners[name](batch)
            finally:
                gc.enable()
            rates[name].append(events / seconds)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=400, help="deliveries per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres", metavar="DSN", default=os.environ.get("VBWD_TEST_POSTGRES_DSN")
    )
    parser.add_argument("--full-events", type=int, default=50, help="deliveries, FULL variant")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args, _unknown = parser.parse_known_args()  # run.py passes every benchmark the same args

    template = realistic_event()
    with sqlite_store("NORMAL") as normal, sqlite_store("FULL") as full:
        runners: dict[str, Callable[[list[Delivery]], float]] = {
            "stripe.Webhook.construct_event": construct_event,
            "pipeline (SQLite)": Pipeline(normal).run,
        }
        rates = measure(runners, template, args.events, args.rounds)
        full_rates = measure(
            {"pipeline (SQLite, synchronous=FULL)": Pipeline(full).run},
            template,
            args.full_events,
            1,
        )
        if args.postgres:
            with postgres_store(args.postgres) as pg:
                rates.update(
                    measure(
                        {"pipeline (PostgreSQL)": Pipeline(pg).run},
                        template,
                        args.events,
                        args.rounds,
                    )
                )
    rates.update(full_rates)

    baseline = max(rates["stripe.Webhook.construct_event"])
    print(
        f"payment_intent.succeeded deliveries: {len(template)} bytes; {args.rounds} rounds of "
        f"{args.events} (FULL: 1 round of {args.full_events}); best round, median in brackets"
    )
    print(f"{'implementation':<40} {'events/s':>10} {'(median)':>10} {'x construct_event':>18}")
    for name, values in rates.items():
        best = max(values)
        print(
            f"{name:<40} {best:>10.0f} {statistics.median(values):>10.0f} {best / baseline:>18.2f}"
        )
    if not args.postgres:
        print("(PostgreSQL skipped: set VBWD_TEST_POSTGRES_DSN or pass --postgres DSN)")
    ratio = max(rates["pipeline (SQLite)"]) / baseline
    verdict = "PASS" if ratio > 1.0 else "FAIL"
    print(
        f"\nwebhook pipeline on SQLite = {ratio:.2f}x the events/s of "
        f"stripe.Webhook.construct_event alone (target > 1.0x): {verdict}"
    )
    return 1 if args.check and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
