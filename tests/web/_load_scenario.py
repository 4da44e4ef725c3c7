"""The webhook load and fault scenario: real HTTP, several client threads, duplicates, faults.

The served app is what ``vbwd-plugins serve`` runs (the ASGI app on uvicorn, 127.0.0.1)
with the Stripe plugin (real signature checks) and the inbox on the given store.
Of the deliveries, 74 % are first deliveries of good events, 20 % duplicates of them
(arriving in any order, often concurrently), 5 % bad signatures and 1 % malformed bodies
with a valid signature. A host listener fails the first time it sees about 2 % of the
events; like a provider, a client thread redelivers whatever was not answered 2xx (500
after a failure, 409 while another worker holds the event) until it is.

Checked at the end (:attr:`Report.violations`):

* every good event was handled exactly once, is in the inbox and its deliveries succeeded;
* every bad signature was answered 401, every malformed body 400, and neither was handled
  or recorded;
* nothing was lost: every delivery got a final answer.

``tests/web/test_load_and_faults.py`` runs it at a small size;
``benchmarks/bench_webhook_load.py`` runs it at 10,000 deliveries.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests
import uvicorn
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import sign_payload

from vbwd_plugins import (
    Event,
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.stores import StateStore
from vbwd_plugins.web.asgi import create_app

API_KEY = "sk_test_51LoadScenarioKey00000000000000001"
SECRET = "whsec_load_scenario_secret_0001"
WRONG_SECRET = "whsec_someone_else_0001"
MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class Delivery:
    """One request the scenario sends, and what it must be answered."""

    kind: str  # "good", "duplicate", "bad_signature", "malformed"
    event_id: str
    body: bytes
    signature_secret: str

    @property
    def expected(self) -> int:
        """The final status this delivery must get."""
        return {"bad_signature": 401, "malformed": 400}.get(self.kind, 200)


@dataclass
class Report:
    """What happened: counts, answers, violations and throughput."""

    store: str
    deliveries: int = 0
    requests: int = 0
    retries: int = 0
    elapsed: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    answers: Counter[int] = field(default_factory=Counter)
    good_events: int = 0
    handled_once: int = 0
    failures_injected: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return not self.violations

    @property
    def per_second(self) -> float:
        """Deliveries answered per second (retries not counted)."""
        return self.deliveries / self.elapsed if self.elapsed else 0.0

    def lines(self) -> list[str]:
        """The report as printable lines."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items()))
        out = [
            f"[{self.store}] {self.deliveries} deliveries ({kinds})",
            f"[{self.store}] {self.requests} requests incl. {self.retries} redeliveries; "
            f"final answers {answers}",
            f"[{self.store}] good events {self.good_events}, handled exactly once "
            f"{self.handled_once}, handler failures injected {self.failures_injected}",
            f"[{self.store}] {self.per_second:.0f} deliveries/s ({self.elapsed:.2f} s)",
        ]
        out += [f"[{self.store}] VIOLATION: {v}" for v in self.violations[:20]]
        out.append(f"[{self.store}] {'OK' if self.ok else 'FAIL'}")
        return out


# -- the scenario ------------------------------------------------------------------------------


def _event(event_id: str, amount: int = 1500) -> bytes:
    intent = {
        "id": f"pi_{event_id[4:]}",
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": "eur",
        "status": "succeeded",
        "metadata": {"subscription_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4())},
    }
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": intent},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def plan(deliveries: int, seed: int = 8) -> list[Delivery]:
    """The shuffled deliveries: 74 % good, 20 % duplicates, 5 % bad signature, 1 % malformed."""
    rng = random.Random(seed)
    duplicates = deliveries * 20 // 100
    bad = deliveries * 5 // 100
    malformed = max(1, deliveries // 100)
    good = deliveries - duplicates - bad - malformed
    run = uuid.uuid4().hex[:8]
    out = [
        Delivery("good", event_id, _event(event_id), SECRET)
        for event_id in (f"evt_{run}_{n:06d}" for n in range(good))
    ]
    originals = list(out)
    for _ in range(duplicates):
        original = rng.choice(originals)
        out.append(Delivery("duplicate", original.event_id, original.body, SECRET))
    for n in range(bad):
        if n % 2:  # a forged copy of a good event: must not count as that event
            original = rng.choice(originals)
            out.append(Delivery("bad_signature", original.event_id, original.body, WRONG_SECRET))
        else:
            event_id = f"evt_{run}_forged_{n:06d}"
            out.append(Delivery("bad_signature", event_id, _event(event_id), WRONG_SECRET))
    for n in range(malformed):
        event_id = f"evt_{run}_malformed_{n:06d}"
        out.append(Delivery("malformed", event_id, _event(event_id)[:-7], SECRET))
    rng.shuffle(out)
    return out


class _Host:
    """The host's listener: counts each event it handles; fails some events once."""

    def __init__(self, fail_first: set[str]) -> None:
        self.fail_first = fail_first
        self.failed: set[str] = set()
        self.handled: Counter[str] = Counter()
        self.lock = threading.Lock()

    def on_completed(self, event: Event) -> None:
        event_id = str(event.data["provider_event_id"])
        with self.lock:
            if event_id in self.fail_first and event_id not in self.failed:
                self.failed.add(event_id)
                raise RuntimeError(f"injected failure for {event_id}")
            self.handled[event_id] += 1


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="error", lifespan="off", ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def run_scenario(
    store: StateStore,
    *,
    deliveries: int,
    threads: int,
    name: str = "store",
    seed: int = 8,
) -> Report:
    """Run the scenario against ``store`` (an empty inbox) and check its invariants."""
    report = Report(name)
    work = plan(deliveries, seed)
    good_ids = sorted({d.event_id for d in work if d.kind == "good"})
    rng = random.Random(seed + 1)
    host = _Host(set(rng.sample(good_ids, max(1, len(good_ids) // 50))))
    report.failures_injected = len(host.fail_first)
    box = FernetSecretBox([FernetSecretBox.generate_key()])
    manager = PluginManager(store=store, secret_box=box)
    manager.register_plugin(StripePlugin())
    manager.initialize_plugin("stripe", {"api_key": API_KEY, "webhook_secret": SECRET})
    manager.enable_plugin("stripe")
    manager.event_dispatcher.add_listener("payment.completed", host.on_completed)
    processor = WebhookProcessor(manager)
    app = create_app(manager, processor, admin_prefix=None)
    local = threading.local()

    def send(url: str, delivery: Delivery) -> tuple[Delivery, int, int]:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        attempts = 0
        status = 0
        while attempts < MAX_ATTEMPTS:
            attempts += 1
            headers = {
                "Stripe-Signature": sign_payload(delivery.body, delivery.signature_secret),
                "Content-Type": "application/json",
            }
            status = session.post(url, data=delivery.body, headers=headers, timeout=60).status_code
            if status < 500 and status != 409:
                break
            time.sleep(0.01 * attempts)  # the provider's backoff, compressed
        return delivery, status, attempts

    with _serve(app) as base:
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(partial(send, f"{base}/webhooks/stripe"), work))
        report.elapsed = time.perf_counter() - started
    for delivery, status, attempts in results:
        report.deliveries += 1
        report.requests += attempts
        report.retries += attempts - 1
        report.kinds[delivery.kind] += 1
        report.answers[status] += 1
        if status != delivery.expected:
            report.violations.append(
                f"{delivery.kind} {delivery.event_id}: answered {status}, "
                f"expected {delivery.expected}"
            )
    _check(report, host, processor, work, good_ids)
    return report


def _check(
    report: Report,
    host: _Host,
    processor: WebhookProcessor,
    work: list[Delivery],
    good_ids: list[str],
) -> None:
    report.good_events = len(good_ids)
    good = set(good_ids)
    for event_id in good_ids:
        count = host.handled[event_id]
        if count == 1:
            report.handled_once += 1
        else:
            report.violations.append(f"good event {event_id} handled {count} times")
        record = processor.inbox.inbox_get("stripe", event_id)
        if record is None:
            report.violations.append(f"good event {event_id} is not in the inbox")
        deliveries = processor.deliveries.outbox.deliveries_of_webhook("stripe", event_id)
        states = sorted({one.status.value for one in deliveries})
        if states != ["succeeded"]:
            report.violations.append(f"good event {event_id}: its deliveries are {states}")
    for delivery in work:
        if delivery.kind in ("bad_signature", "malformed") and delivery.event_id not in good:
            if host.handled[delivery.event_id]:
                report.violations.append(f"{delivery.kind} {delivery.event_id} was handled")
            if processor.inbox.inbox_get("stripe", delivery.event_id) is not None:
                report.violations.append(f"{delivery.kind} {delivery.event_id} was recorded")
    extra = set(host.handled) - good
    if extra:
        report.violations.append(f"events handled that were never good: {sorted(extra)[:5]}")
