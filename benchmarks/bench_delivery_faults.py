"""Durable delivery under load and faults at full size: 10,000 webhook deliveries over HTTP.

The scenario (``tests/delivery/_fault_scenario.py``, which the test suite runs with 500
deliveries) in two modes:

* ``inline``: SQLite store, 2 web worker processes (uvicorn) running the deliveries in the
  request; one web worker SIGKILLed and restarted at 25 % of the run.
* ``deferred``: PostgreSQL store, 3 web worker processes answering once the deliveries are
  committed, 2 Celery workers (Redis broker) running them, Celery beat sweeping every second;
  at 25 % a web worker is SIGKILLed, at 40 % and 70 % the store's PostgreSQL connections are
  terminated (``pg_terminate_backend``), at 55 % a Celery worker is SIGKILLed; each killed
  worker is restarted.

74 % good events, 20 % duplicates, 5 % bad signatures, 1 % malformed bodies; three listeners
(an idempotent ledger, one failing the first attempt of 10 % of the events, one failing every
attempt of 1 %), a ``RetryPolicy`` of 4 attempts with waits from 50 ms to 0.5 s. The script
prints the report of each mode and checks it (``--check`` exits 1 on any violation): every
good event's effect exactly once per listener, every always-failing delivery dead and listed
by ``vbwd-plugins deliveries list --status dead``, nothing pending, every bad delivery
answered 401/400. Raw listener calls (at least once) are printed beside the effects.

    python benchmarks/bench_delivery_faults.py [--deliveries 10000] [--threads 8]
        [--mode inline|deferred|both] [--check]

The deferred mode needs ``VBWD_TEST_POSTGRES_DSN`` (or ``--postgres-dsn``) and Redis
(``--redis``, default ``redis://127.0.0.1:6379/15``); all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

# The scenario lives with the tests (repository root on the path, as pytest has it).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.delivery._fault_scenario import Setup, run


def main(argv: list[str] | None = None) -> int:
    """Run the scenario in the chosen modes and print the reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--mode", choices=["inline", "deferred", "both"], default="both")
    parser.add_argument("--postgres-dsn", default=os.environ.get("VBWD_TEST_POSTGRES_DSN"))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--check", action="store_true", help="exit 1 if an invariant fails")
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # benchmarks/run.py passes every benchmark the same arguments
        print(f"(ignoring arguments for other benchmarks: {' '.join(unknown)})")
    setups = []
    if args.mode in ("inline", "both"):
        setups.append(("inline", {"web_workers": 2}))
    if args.mode in ("deferred", "both"):
        if args.postgres_dsn:
            setups.append(
                (
                    "deferred",
                    {"web_workers": 3, "postgres_dsn": args.postgres_dsn, "redis_url": args.redis},
                )
            )
        else:
            print("[deferred] skipped: set VBWD_TEST_POSTGRES_DSN or --postgres-dsn")
    ok = True
    for mode, options in setups:
        folder = Path(tempfile.mkdtemp(prefix="vbwd-faults-", dir=Path(__file__).parent))
        try:
            setup = Setup(mode, folder, deliveries=args.deliveries, threads=args.threads, **options)
            report = run(setup)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        for line in report.lines():
            print(line, flush=True)
        ok = ok and report.ok
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
