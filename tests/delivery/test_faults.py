"""Durable delivery under load and faults, inline on SQLite, over real HTTP (small size).

The scenario lives in ``tests/delivery/_fault_scenario.py``; ``benchmarks/
bench_delivery_faults.py`` runs it at 10,000 deliveries. Here: 500 deliveries from 4 client
threads to 2 web worker processes, one of them SIGKILLed mid-run and restarted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vbwd_stripe", reason="the vbwd-stripe distribution is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (uvicorn) is not installed")
from tests.delivery._fault_scenario import Setup, run


def test_inline_sqlite_each_effect_once_dead_letters_listed_nothing_lost(tmp_path: Path) -> None:
    """A killed web worker, duplicates, bad and malformed deliveries, failing listeners:
    every good event's effect once per listener, the always-failing ones dead and listed."""
    report = run(Setup("inline", tmp_path, deliveries=500, threads=4, web_workers=2))
    assert report.violations == [], "\n".join(report.lines())
    assert report.kinds == {"good": 370, "duplicate": 100, "bad_signature": 25, "malformed": 5}
    assert report.answers == {200: 470, 401: 25, 400: 5}
    assert len(report.faults) == 1 and report.faults[0].startswith("SIGKILL web worker")
    assert report.effects == {"ledger": 370, "flaky": 370, "always-fails": 366}
    assert report.dead_expected == report.dead_listed == report.statuses["dead"] == 4
    assert report.repeated["flaky"] >= 37  # each flaky event's listener ran again
    assert report.requests > report.deliveries  # the failures were redelivered
