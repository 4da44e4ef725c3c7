"""Durable delivery under load and faults: real HTTP, several processes, killed and cut.

Two modes over the same host (:mod:`tests.delivery._fault_host`, the vbwd-stripe plugin and
three listeners keeping a ledger):

* ``inline`` on SQLite: web workers run the deliveries in the request and answer 500 until
  every listener succeeded (or is dead); the client redelivers, as a provider does.
* ``deferred`` on PostgreSQL + Celery: web workers answer 200 once the deliveries are
  committed; Celery workers run them, retrying with backoff; beat sweeps.

The deliveries (``tests/web/_load_scenario.plan``): 74 % good events, 20 % duplicates, 5 %
bad signatures, 1 % malformed bodies, sent by client threads that redeliver whatever is not
answered 2xx/4xx (also when a connection breaks). During the run one web worker is
SIGKILLed and restarted; deferred, one Celery worker too, and the store's PostgreSQL
connections are terminated twice (``pg_terminate_backend``). Then the run waits (bounded)
until no delivery is pending or running, and checks (:attr:`Report.violations`):

* every good event is in the inbox with its three deliveries, and each listener's effect is
  in the ledger exactly once (keyed by the idempotency key); the always-failing deliveries
  are dead, nothing else is, and ``vbwd-plugins deliveries list --status dead`` lists
  exactly them;
* every bad signature was answered 401 and every malformed body 400, without an effect or
  (for a new event id) an inbox row; every delivery got its final answer.

The raw listener calls (at least once) are reported beside the effects (exactly once).
``tests/delivery/test_faults.py`` and ``test_celery_faults.py`` run it small;
``benchmarks/bench_delivery_faults.py`` at 10,000 deliveries.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import sign_payload

from tests.delivery._fault_host import LISTENERS, ledger_db, open_store
from tests.delivery._fault_processes import Processes
from tests.delivery._fault_report import Report, Setup, check, settle
from tests.web._load_scenario import API_KEY, SECRET, Delivery, plan
from vbwd_plugins import PluginManager
from vbwd_plugins.config import FernetSecretBox

MAX_ATTEMPTS = 80  # requests per delivery, at most
REQUEST_TIMEOUT = 30.0


# -- the run -----------------------------------------------------------------------------------


def run(setup: Setup) -> Report:
    """Run the scenario once and check it; every process started is stopped afterwards."""
    run_id = uuid.uuid4().hex[:10]
    key = FernetSecretBox.generate_key()
    env = _environment(setup, run_id, key)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # the store opened here seals with the run's key too
    processes = Processes(setup.folder, env)
    try:
        _prepare_store(env, key)
        return _run(setup, env, processes)
    finally:
        processes.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if setup.mode == "deferred":
            _purge_redis(setup.redis_url, env["VBWD_FAULT_QUEUE"])
            _drop_schema(setup.postgres_dsn or "", env["VBWD_FAULT_SCHEMA"])


def _environment(setup: Setup, run_id: str, key: str) -> dict[str, str]:
    env = {
        "VBWD_FAULT_MODE": setup.mode,
        "VBWD_FAULT_LEDGER": str(setup.folder / "ledger.sqlite3"),
        "VBWD_FAULT_MAX_ATTEMPTS": str(setup.max_attempts),
        "VBWD_FAULT_LEASE": "3",
        "VBWD_FAULT_BASE_DELAY": "0.05",
        "VBWD_FAULT_MAX_DELAY": "0.5",
        "VBWD_FAULT_SWEEP_EVERY": "1",
        "VBWD_PLUGINS_SECRET_KEYS": key,
    }
    if setup.mode == "inline":
        env["VBWD_FAULT_STORE"] = str(setup.folder / "store.sqlite3")
        return env
    if not setup.postgres_dsn:
        raise ValueError("the deferred mode needs a PostgreSQL DSN")
    separator = "&" if "?" in setup.postgres_dsn else "?"
    env["VBWD_FAULT_STORE"] = (
        f"{setup.postgres_dsn}{separator}application_name=vbwd_faults_{run_id}"
    )
    env["VBWD_FAULT_SCHEMA"] = f"vbwd_faults_{run_id}"
    env["VBWD_FAULT_BROKER"] = setup.redis_url
    env["VBWD_FAULT_QUEUE"] = f"vbwd-faults-{run_id}"
    return env


def _prepare_store(env: dict[str, str], key: str) -> None:
    """Enable and configure the Stripe plugin once; every process's ``start()`` restores it."""
    store = open_store()
    try:
        manager = PluginManager(store=store, secret_box=FernetSecretBox([key]))
        manager.register_plugin(StripePlugin())
        manager.initialize_plugin("stripe", {"api_key": API_KEY, "webhook_secret": SECRET})
        manager.enable_plugin("stripe")
    finally:
        store.close()
    ledger_db(env["VBWD_FAULT_LEDGER"]).close()


def _run(setup: Setup, env: dict[str, str], processes: Processes) -> Report:
    report = Report(setup.name)
    for _ in range(setup.web_workers):
        processes.start_web()
    if setup.mode == "deferred":
        for number in range(setup.celery_workers):
            processes.start_celery(f"w{number}", setup.celery_concurrency)
        processes.start_beat()
    work = plan(setup.deliveries, seed=12)
    client = _Client(f"http://127.0.0.1:{processes.port}/webhooks/stripe", setup)
    faults = _faults(setup, env, processes, report)
    started = time.monotonic()
    client.run(work, faults)
    report.elapsed = time.monotonic() - started
    report.requests, report.connection_errors = client.requests, client.broken
    for delivery, status in client.results:
        report.deliveries += 1
        report.kinds[delivery.kind] += 1
        report.answers[status] += 1
        if status != delivery.expected:
            report.violations.append(
                f"{delivery.kind} {delivery.event_id}: answered {status}, expected "
                f"{delivery.expected}"
            )
    good = sorted({d.event_id for d in work if d.kind == "good"})
    report.good_events = len(good)
    settled = time.monotonic()
    settle(setup, env, len(good) * len(LISTENERS), report)
    report.settle = time.monotonic() - settled
    check(setup, env, work, good, report)
    if report.violations:
        report.violations.append("process logs (tail): " + processes.logs()[-3000:])
    return report


# -- the client --------------------------------------------------------------------------------


class _Client:
    """Client threads that send every delivery until it gets a final answer."""

    def __init__(self, url: str, setup: Setup) -> None:
        self.url = url
        self.setup = setup
        self.local = threading.local()
        self.lock = threading.Lock()
        self.done = 0
        self.requests = 0
        self.broken = 0
        self.results: list[tuple[Delivery, int]] = []

    def run(self, work: list[Delivery], faults: Callable[[Callable[[], float]], None]) -> None:
        deadline = time.monotonic() + self.setup.client_timeout
        injector = threading.Thread(
            target=faults, args=(lambda: self.done / len(work),), daemon=True
        )
        injector.start()
        with ThreadPoolExecutor(self.setup.threads) as pool:
            self.results = list(pool.map(lambda d: (d, self.send(d, deadline)), work))
        injector.join(120)

    def send(self, delivery: Delivery, deadline: float) -> int:
        session: requests.Session | None = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        status = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            headers = {
                "Stripe-Signature": sign_payload(delivery.body, delivery.signature_secret),
                "Content-Type": "application/json",
            }
            try:
                status = session.post(
                    self.url, data=delivery.body, headers=headers, timeout=REQUEST_TIMEOUT
                ).status_code
            except requests.RequestException:
                status = 0  # the worker died under the request: the provider retries
                with self.lock:
                    self.broken += 1
            with self.lock:
                self.requests += 1
            if status and status < 500 and status != 409:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(min(0.5, 0.02 * attempt))  # the provider's backoff, compressed
        with self.lock:
            self.done += 1
        return status


def _faults(
    setup: Setup, env: dict[str, str], processes: Processes, report: Report
) -> Callable[[Callable[[], float]], None]:
    """The fault injector: each fault once the client has done its share of the work."""
    steps: list[tuple[float, str, Callable[[], str]]] = [
        (0.25, "SIGKILL web worker", lambda: _restart_web(processes)),
    ]
    if setup.mode == "deferred":
        steps += [
            (0.4, "pg_terminate_backend", lambda: _terminate(env)),
            (0.55, "SIGKILL Celery worker", lambda: _restart_celery(processes, setup)),
            (0.7, "pg_terminate_backend", lambda: _terminate(env)),
        ]

    def inject(progress: Callable[[], float]) -> None:
        deadline = time.monotonic() + setup.client_timeout
        for share, what, action in steps:
            while progress() < share and time.monotonic() < deadline:
                time.sleep(0.01)
            if progress() < share:
                report.violations.append(f"fault {what!r} not injected: the run took too long")
                continue
            try:
                report.faults.append(f"{what} at {progress():.0%}: {action()}")
            except Exception as exc:
                report.violations.append(f"fault {what!r} failed: {exc!r}")

    return inject


def _restart_web(processes: Processes) -> str:
    killed = processes.kill_one("web")
    return f"pid {killed} killed, pid {processes.start_web(wait=False)} started"


def _restart_celery(processes: Processes, setup: Setup) -> str:
    killed = processes.kill_one("celery")
    return (
        f"pid {killed} killed, pid {processes.start_celery('w9', setup.celery_concurrency)} started"
    )


def _terminate(env: dict[str, str]) -> str:
    import psycopg

    store_dsn = env["VBWD_FAULT_STORE"]
    name = store_dsn.rpartition("application_name=")[2]
    with psycopg.connect(store_dsn.replace(name, "vbwd_faults_killer"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        ).fetchall()
    return f"{sum(1 for (ok,) in rows if ok)} store connections terminated"


def _drop_schema(dsn: str, schema: str) -> None:
    """Drop the run's PostgreSQL schema."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _purge_redis(url: str, queue: str) -> None:
    """Delete the run's keys from the broker."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = [*client.scan_iter(match=f"{queue}*"), *client.scan_iter(match=f"*{queue}*")]
        if keys:
            client.delete(*set(keys))
    finally:
        client.close()
