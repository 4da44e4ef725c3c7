"""The plans the service sells, and where each lives at each provider.

A :class:`~vbwd_plugins.payments.Plan` is described once; ``provider.ensure_plan(plan)``
creates the provider's objects the first time and finds them afterwards, so it runs at every
start-up (and, for a provider enabled while the app runs, before its first signup).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Final

from vbwd_plugins import Capability, Money, PaymentProviderPlugin
from vbwd_plugins.payments import Plan

__all__ = ["PLANS", "PlanCatalog", "PlanUnavailableError"]

logger = logging.getLogger(__name__)

#: Every plan starts with a 14-day free trial, then bills monthly.
PLANS: Final[Mapping[str, Plan]] = {
    "basic": Plan(key="basic", name="Basic", price=Money("9.99", "EUR"), trial_days=14),
    "pro": Plan(key="pro", name="Pro", price=Money("29.00", "USD"), trial_days=14),
}


class PlanUnavailableError(Exception):
    """The provider could not create or find a plan (its message says why)."""


class PlanCatalog:
    """The provider plan id of each plan, per provider, ensured once per plugin instance.

    A plugin reconfigured in the admin API is a new instance (perhaps another account): its
    plans are ensured again.
    """

    def __init__(self, plans: Mapping[str, Plan] = PLANS) -> None:
        self.plans = plans
        self._lock = threading.Lock()
        self._ensured: dict[str, tuple[PaymentProviderPlugin, dict[str, str]]] = {}

    def ensure(self, provider: PaymentProviderPlugin) -> dict[str, str]:
        """Plan key -> provider plan id at ``provider``; raises :class:`PlanUnavailableError`."""
        name = provider.metadata.name
        with self._lock:
            known = self._ensured.get(name)
            if known is not None and known[0] is provider:
                return known[1]
            ids: dict[str, str] = {}
            for key, plan in self.plans.items():
                result = provider.ensure_plan(plan)
                if not result.success or result.value is None:
                    raise PlanUnavailableError(
                        f"{name} could not provide plan {key!r}: "
                        f"{result.error_code} {result.error_message}"
                    )
                ids[key] = result.value.provider_plan_id
            self._ensured[name] = (provider, ids)
            logger.info("plans at %s: %s", name, ids)
            return ids

    def ensure_all(self, providers: list[PaymentProviderPlugin]) -> None:
        """At start-up: ensure the plans at every provider that declares ``PLANS``.

        A provider that fails is logged, not fatal: signups with it will try again.
        """
        for provider in providers:
            if Capability.PLANS not in provider.capabilities:
                continue
            try:
                self.ensure(provider)
            except PlanUnavailableError as exc:
                logger.warning("%s", exc)

    def plan_of(self, provider: str, provider_plan_id: str | None) -> str | None:
        """The plan key whose provider plan id at ``provider`` is ``provider_plan_id``."""
        with self._lock:
            known = self._ensured.get(provider)
        if known is None or provider_plan_id is None:
            return None
        return next((key for key, pid in known[1].items() if pid == provider_plan_id), None)
