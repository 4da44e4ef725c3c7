"""Instances never share state: no stripe globals, no crossed keys, lazy import."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import stripe
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import FakeStripe

from vbwd_plugins import PaymentStatus


def test_initialize_sets_no_stripe_globals(
    fake: FakeStripe, make_plugin: Callable[..., StripePlugin]
) -> None:
    """Initializing and using the plugin leaves the stripe module's globals alone."""
    before = (
        stripe.api_key,
        stripe.api_base,
        stripe.max_network_retries,
        stripe.default_http_client,
    )
    plugin = make_plugin(fake)
    assert plugin.create_payment_intent(Decimal("1.00"), "USD", uuid.uuid4(), uuid.uuid4()).success
    after = (
        stripe.api_key,
        stripe.api_base,
        stripe.max_network_retries,
        stripe.default_http_client,
    )
    assert after == before
    assert stripe.api_key is None


def test_two_instances_in_threads_never_cross(
    make_fake: Callable[..., FakeStripe], make_plugin: Callable[..., StripePlugin]
) -> None:
    """Two plugins with different keys, used concurrently, each reach only their account."""
    fakes = [
        make_fake("sk_test_tenant_a_0000000000000aaaa"),
        make_fake("sk_test_tenant_b_0000000000000bbbb"),
    ]
    plugins = [make_plugin(f) for f in fakes]
    rounds = 15

    def work(index: int, n: int) -> tuple[int, str | None, PaymentStatus]:
        plugin = plugins[index]
        created = plugin.create_payment_intent(
            Decimal(f"{index + 1}.{n:02d}"),
            "USD",
            uuid.uuid4(),
            uuid.uuid4(),
            idempotency_key=f"tenant-{index}-{n}",
        )
        assert created.transaction_id is not None, created
        done = plugin.process_payment(created.transaction_id, "pm_card_visa")
        return index, done.transaction_id, done.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(work, i % 2, n) for n in range(rounds) for i in range(2)]
        results = [job.result() for job in jobs]

    for index, transaction_id, status in results:
        assert status is PaymentStatus.COMPLETED
        assert transaction_id in fakes[index].intents
        assert transaction_id not in fakes[1 - index].intents
    for index, fake in enumerate(fakes):
        assert {r.api_key for r in fake.requests} == {fake.api_key}
        assert len(fake.intents) == rounds
        keys = [r.idempotency_key or "" for r in fake.requests_to("/v1/payment_intents")]
        assert sorted(keys) == sorted(f"tenant-{index}-{n}" for n in range(rounds))


def test_importing_the_core_and_discovering_does_not_import_stripe() -> None:
    """`import vbwd_plugins` and discover() list the stripe plugin without importing stripe."""
    code = (
        "import sys, vbwd_plugins\n"
        "found = [p.name for p in vbwd_plugins.PluginManager().discover()]\n"
        "assert 'stripe' in found, found\n"
        "assert 'stripe' not in sys.modules and 'vbwd_stripe' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_loading_the_plugin_by_name_imports_stripe() -> None:
    """The entry point `stripe` loads StripePlugin (and only then the SDK)."""
    code = (
        "import sys, vbwd_plugins\n"
        "manager = vbwd_plugins.PluginManager()\n"
        "manager.discover()\n"
        "plugin = manager.load_plugin('stripe')\n"
        "assert type(plugin).__name__ == 'StripePlugin', plugin\n"
        "assert 'stripe' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
