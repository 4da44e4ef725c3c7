"""Webhook load and fault scenario at benchmark size: 10,000 deliveries over real HTTP.

The scenario (``tests/web/_load_scenario.py``, shared with the test suite, which runs it at
300 deliveries): the ASGI app on uvicorn with the Stripe plugin and the inbox on SQLite or
PostgreSQL; 74 % good first deliveries, 20 % duplicates, 5 % bad signatures, 1 % malformed
bodies, and a listener that fails about 2 % of the events once, redelivered by the client
threads until answered. Every good event must be handled exactly once, every bad delivery
answered 401/400 and never handled, and every delivery answered; ``--check`` exits 1 on any
violation.

    python benchmarks/bench_webhook_load.py [--deliveries 10000] [--threads 8]
        [--store sqlite|postgres|both] [--check]

PostgreSQL runs when ``VBWD_TEST_POSTGRES_DSN`` (or ``--postgres-dsn``) is set.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench_stores import postgres_store, sqlite_store

# The scenario lives with the tests (repository root on the path, as pytest has it).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.web._load_scenario import run_scenario


def main(argv: list[str] | None = None) -> int:
    """Run the scenario on the chosen stores and print the reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-dsn", default=os.environ.get("VBWD_TEST_POSTGRES_DSN"))
    parser.add_argument("--check", action="store_true", help="exit 1 if an invariant fails")
    args, unknown = parser.parse_known_args(argv)
    # The scenario provokes rejections and failures on purpose: keep their log lines out.
    logging.getLogger().addHandler(logging.NullHandler())
    if unknown:  # benchmarks/run.py passes every benchmark the same arguments
        print(f"(ignoring arguments for other benchmarks: {' '.join(unknown)})")
    targets: list[tuple[str, Callable[[], Any]]] = []
    if args.store in ("sqlite", "both"):
        targets.append(("sqlite", sqlite_store))
    if args.store in ("postgres", "both"):
        if args.postgres_dsn:
            dsn = args.postgres_dsn
            targets.append(("postgres", lambda: postgres_store(dsn)))
        else:
            print("[postgres] skipped: set VBWD_TEST_POSTGRES_DSN or --postgres-dsn")
    ok = True
    for name, opener in targets:
        with opener() as store:
            report = run_scenario(
                store, deliveries=args.deliveries, threads=args.threads, name=name
            )
        for line in report.lines():
            print(line, flush=True)
        ok = ok and report.ok
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
