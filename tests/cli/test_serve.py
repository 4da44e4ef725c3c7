"""``vbwd-plugins serve``: a real server process on 127.0.0.1, its admin API and webhooks,
following changes other processes make to the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests._support import DistFactory
from tests.cli.conftest import GROUP, Run
from vbwd_plugins import (
    PaymentEventType,
    PluginManager,
    SQLiteStateStore,
)
from vbwd_plugins.testing import MockPaymentPlugin

TOKEN = "serve-admin-token"


class Served:
    """A running ``vbwd-plugins serve`` process."""

    def __init__(self, process: subprocess.Popen[str], base: str) -> None:
        self.process = process
        self.base = base

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as a service manager would; returns the exit code and the rest of stdout."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out


@pytest.fixture
def serve(make_dist: DistFactory, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start ``serve --port 0`` in a child process with ``mock`` installed and enabled."""
    site = make_dist(
        "serve-mock", "1.0.0", {"mock": "vbwd_plugins.testing:MockPaymentPlugin"}, group=GROUP
    ).parent
    store_path = tmp_path / "serve.sqlite3"
    with SQLiteStateStore(store_path) as store:
        manager = PluginManager(group=GROUP, store=store)
        manager.discover()
        manager.enable_plugins(["mock"])
    started: list[subprocess.Popen[str]] = []

    def start(*, token: str | None = TOKEN) -> Served:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VBWD_")}
        env["PYTHONPATH"] = os.pathsep.join([str(site), *sys.path])
        if token is not None:
            env["VBWD_ADMIN_TOKEN"] = token
        command = ["--group", GROUP, "--store", str(store_path), "serve", "--port", "0"]
        log = (tmp_path / f"serve-{len(started)}.log").open("w", encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "vbwd_plugins.cli", *command],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        log.close()
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("Serving"):
            process.kill()
            process.communicate(timeout=30)
            errors = (tmp_path / f"serve-{len(started) - 1}.log").read_text(encoding="utf-8")
            raise AssertionError(f"serve did not start: {line!r} {errors}")
        base = line.split()[3]
        return Served(process, base)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def deliver(base: str) -> requests.Response:
    """POST one signed mock ``payment.completed`` webhook."""
    mock = MockPaymentPlugin()
    body = mock.webhook_body(
        PaymentEventType.COMPLETED, transaction_id="tx_1", amount=100, currency="EUR"
    )
    return requests.post(
        f"{base}/webhooks/mock", data=body, headers={"Mock-Signature": mock.sign(body)}, timeout=10
    )


def test_serve_answers_webhooks_and_admin_and_stops_cleanly(
    serve: Callable[..., Served], cli: Run, tmp_path: Path
) -> None:
    """Webhooks are processed, the admin API needs the bearer token, a change made by another
    process is followed, and SIGTERM stops the server cleanly."""
    served = serve()
    assert served.base.startswith("http://127.0.0.1:")
    assert deliver(served.base).json()["status"] == "processed"
    admin = f"{served.base}/admin/plugins"
    assert requests.get(admin, timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listing = requests.get(admin, headers=auth, timeout=10).json()["plugins"]
    assert [(p["name"], p["status"]) for p in listing] == [("mock", "enabled")]

    disabled = requests.post(f"{admin}/mock/disable", json={}, headers=auth, timeout=10)
    assert disabled.status_code == 200 and disabled.json()["disabled"] == ["mock"]
    assert deliver(served.base).status_code == 404

    assert cli("--store", str(tmp_path / "serve.sqlite3"), "enable", "mock")[0] == 0
    deadline = time.monotonic() + 30
    while deliver(served.base).status_code == 404:  # the server follows the store
        assert time.monotonic() < deadline, "serve did not pick up the change"
        time.sleep(0.2)

    code, out = served.stop()
    assert code == 0
    assert out.strip().endswith("Stopped.")


def test_serve_without_a_token_keeps_admin_closed(serve: Callable[..., Served]) -> None:
    """Without VBWD_ADMIN_TOKEN the admin routes answer 403 saying to set it; webhooks
    still work."""
    served = serve(token=None)
    response = requests.get(f"{served.base}/admin/plugins", timeout=10)
    assert response.status_code == 403 and response.json()["error"] == "admin_disabled"
    assert "set VBWD_ADMIN_TOKEN" in response.json()["message"]
    deliveries = requests.post(f"{served.base}/admin/deliveries/x/retry", timeout=10)
    assert deliveries.status_code == 403 and "VBWD_ADMIN_TOKEN" in deliveries.json()["message"]
    assert deliver(served.base).status_code == 200
    assert served.stop()[0] == 0


def test_serve_exits_promptly_on_sigterm(serve: Callable[..., Served]) -> None:
    """SIGTERM ends `serve` within about a second: the thread following the store does not
    hold it up (the bound has slack for a loaded machine)."""
    served = serve()
    assert deliver(served.base).status_code == 200
    served.process.send_signal(signal.SIGTERM)
    try:
        served.process.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        pytest.fail("serve was still running 2 s after SIGTERM")
    out, _ = served.process.communicate(timeout=30)  # closes the pipe
    assert served.process.returncode == 0 and out.strip().endswith("Stopped.")
