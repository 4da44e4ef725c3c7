"""Fixtures of the Celery engine tests: a per-run Redis namespace, real worker processes.

Each test run gets its own queue and Redis key prefix (``$VBWD_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/15``), deleted afterwards. Without a reachable Redis the tests skip,
except in CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.stores._support import StoreTarget
from vbwd_plugins import PluginManager
from vbwd_plugins.cli import main as cli_main
from vbwd_plugins.delivery import Delivery, DeliveryStatus, Outbox

REPO = Path(__file__).resolve().parents[2]
ENV_REDIS = "VBWD_TEST_REDIS_URL"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
APP = "tests.delivery._celery_app"
#: Longest wait for a worker to do something (a hung worker fails the test, never hangs it).
WAIT = 60.0


@dataclass(frozen=True)
class CeleryRun:
    """This run's broker namespace and the host module imported with it."""

    broker: str
    queue: str
    prefix: str
    host: ModuleType

    def env(self) -> dict[str, str]:
        """What a worker process needs to join this run."""
        return {
            "VBWD_TEST_CELERY_BROKER": self.broker,
            "VBWD_TEST_CELERY_QUEUE": self.queue,
            "VBWD_TEST_CELERY_PREFIX": self.prefix,
        }


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def celery_run() -> Iterator[CeleryRun]:
    """A queue and key prefix of this run's own on the real Redis broker (cleaned up)."""
    url = os.environ.get(ENV_REDIS) or DEFAULT_REDIS
    problem = _redis_problem(url)
    if problem is not None:
        message = f"the Celery tests need Redis at {url} ({problem}); set {ENV_REDIS}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    queue = f"vbwd-test-{uuid.uuid4().hex[:12]}"
    run = {"VBWD_TEST_CELERY_BROKER": url, "VBWD_TEST_CELERY_QUEUE": queue}
    run["VBWD_TEST_CELERY_PREFIX"] = f"{queue}:"
    saved = {name: os.environ.get(name) for name in run}
    os.environ.update(run)
    sys.modules.pop(APP, None)
    try:
        host = import_module(APP)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    yield CeleryRun(url, queue, f"{queue}:", host)
    host.app.close()  # its pooled connections would write their bindings again
    sys.modules.pop(APP, None)
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = [*client.scan_iter(match=f"{queue}*"), *client.scan_iter(match=f"*{queue}*")]
        if keys:
            client.delete(*set(keys))
    finally:
        client.close()


@dataclass
class Deployment:
    """One test's host: a store, a ledger, a web-side manager, and worker processes."""

    run: CeleryRun
    target: StoreTarget
    folder: Path
    env: dict[str, str]
    manager: PluginManager
    processes: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    @property
    def outbox(self) -> Outbox:
        """The web side's store."""
        store = self.manager.store
        assert isinstance(store, Outbox)
        return store

    @property
    def host(self) -> Any:
        """The host module (listeners, ledger)."""
        return self.run.host

    def start(self, command: str = "worker", *extra: str, **settings: object) -> int:
        """Start ``celery -A <host app> worker`` (or ``beat``); returns its pid.

        ``settings`` become ``VBWD_TEST_CELERY_<NAME>`` variables (``lease=2``).
        """
        env = dict(os.environ)
        env.update(self.env)
        env.update({f"VBWD_TEST_CELERY_{k.upper()}": str(v) for k, v in settings.items()})
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        log = self.folder / f"{command}-{len(self.processes)}.log"
        argv = [sys.executable, "-m", "celery", "-A", APP, command, "--loglevel=INFO"]
        if command == "worker":
            argv += ["-Q", self.run.queue, "-n", f"w{len(self.processes)}-{self.run.queue}@%h"]
            argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        else:
            argv += ["--schedule", str(self.folder / "beat-schedule"), "--max-interval", "1"]
        argv += list(extra)
        with log.open("wb") as output:
            process = subprocess.Popen(
                argv, cwd=self.folder, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        self.processes.append((process, log))
        return process.pid

    def logs(self) -> str:
        """Every process's output so far (for failure messages and log assertions)."""
        return "\n".join(
            f"--- {log.name} ---\n{log.read_text(errors='replace')}" for _, log in self.processes
        )

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        """Poll ``condition`` until it holds; fail with the workers' logs after ``WAIT``."""
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}\n{self.logs()[-6000:]}")
            time.sleep(0.05)

    def delivery(self, delivery_id: str) -> Delivery:
        """The delivery as the store has it now."""
        found = self.outbox.delivery_get(delivery_id)
        assert found is not None, delivery_id
        return found

    def settled(self, *delivery_ids: str) -> Callable[[], bool]:
        """A condition: every one of ``delivery_ids`` succeeded or is dead."""
        done = {DeliveryStatus.SUCCEEDED, DeliveryStatus.DEAD}
        return lambda: all(self.delivery(one).status in done for one in delivery_ids)

    def hold(self) -> None:
        """Make the ``ledger`` and ``slow`` listeners wait."""
        self.host.hold_path().touch()

    def release(self) -> None:
        """Let them go on."""
        self.host.hold_path().unlink(missing_ok=True)

    def cli(self, *argv: str) -> int:
        """Run ``vbwd-plugins`` on this store, in this process."""
        store = ["--store", self.env["VBWD_TEST_CELERY_STORE"]]
        if "VBWD_TEST_CELERY_SCHEMA" in self.env:
            store += ["--pg-schema", self.env["VBWD_TEST_CELERY_SCHEMA"]]
        return cli_main([*store, *argv])

    def stop(self) -> None:
        """Stop every process (warm shutdown, then kill), release holds, close the store."""
        self.release()
        for process, _ in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self.manager.store is not None:
            self.manager.store.close()


@pytest.fixture
def deployment(
    celery_run: CeleryRun, target: StoreTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """The host of one test: its store (``target``), a ledger, the web side's manager with
    the Celery engine, and a way to start workers; everything stopped afterwards."""
    env = {
        **celery_run.env(),
        "VBWD_TEST_CELERY_LEDGER": str(tmp_path / "ledger.sqlite3"),
        "VBWD_TEST_CELERY_STORE": target.sqlite_path or str(target.dsn),
    }
    if target.schema is not None:
        env["VBWD_TEST_CELERY_SCHEMA"] = target.schema
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    host: Any = celery_run.host
    host.app.control.purge()  # nothing left over from an earlier test
    manager = host.make_manager()
    manager.set_delivery_engine(host.engine)
    made = Deployment(celery_run, target, tmp_path, env, manager)
    try:
        yield made
    finally:
        made.stop()
        with suppress(Exception):
            host.app.control.purge()
