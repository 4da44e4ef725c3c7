"""Start-up cost: ``import vbwd_plugins``, ``vbwd-plugins --help`` and ``vbwd-plugins list``.

Every sample is a fresh interpreter, timed from start to exit (interpreter start-up
included, as a user waits for it). All cases run interleaved in one run, in a shuffled order
per round, sharing one bytecode cache; the medians are compared:

* ``import vbwd_plugins`` <= 2x ``import pluggy``;
* ``vbwd-plugins --help`` <= 1.5x ``python -c "import vbwd_plugins"``;
* ``vbwd-plugins list`` (both providers installed, no store) <= 2x the same.

Reported beside them, without a target: ``from vbwd_plugins import *`` (every front-door
name, so also the lazily loaded payments domain, stores and webhook pipeline), and the import
ratio with a bare interpreter's start-up (``python -c pass``) subtracted from both.

    python benchmarks/bench_import.py [--samples 15] [--check]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _fresh import bytecode_cache, medians

#: (case, baseline, target ratio)
TARGETS = (
    ("import vbwd_plugins", "import pluggy", 2.0),
    ("vbwd-plugins --help", "import vbwd_plugins", 1.5),
    ("vbwd-plugins list", "import vbwd_plugins", 2.0),
)

HEAVY = ("pydantic", "cryptography", "asyncio", "packaging", "importlib.metadata")


def command() -> list[str]:
    """The installed ``vbwd-plugins`` script next to this interpreter (what users run)."""
    script = shutil.which("vbwd-plugins", path=str(Path(sys.executable).parent))
    if script is None:
        raise SystemExit("the vbwd-plugins script is not installed next to this interpreter")
    return [script]


def module_count(code: str, env: dict[str, str]) -> tuple[int, list[str]]:
    """How many modules ``code`` leaves in ``sys.modules``, and which heavy ones."""
    probe = f"{code}; import sys, json; print(json.dumps([len(sys.modules), sorted(sys.modules)]))"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout
    count, names = json.loads(out)
    return count, [name for name in HEAVY if name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15, help="rounds (at least 7)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args, _ = parser.parse_known_args()  # run.py passes every benchmark the same arguments
    samples = max(args.samples, 7)
    cli = command()
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import pluggy": [sys.executable, "-c", "import pluggy"],
        "import vbwd_plugins": [sys.executable, "-c", "import vbwd_plugins"],
        "vbwd-plugins --help": [*cli, "--help"],
        "vbwd-plugins list": [*cli, "list"],
        "from vbwd_plugins import *": [sys.executable, "-c", "from vbwd_plugins import *"],
    }
    with bytecode_cache() as env, tempfile.TemporaryDirectory() as cwd:
        env = {k: v for k, v in env.items() if not k.startswith("VBWD_PLUGINS_")}
        listing = subprocess.run(
            [*cli, "list"], env=env, cwd=cwd, capture_output=True, text=True, check=True
        ).stdout
        missing = [name for name in ("stripe", "paypal") if f"\n{name} " not in f"\n{listing}"]
        if missing:
            raise SystemExit(f"install both providers first; not found: {', '.join(missing)}")
        times = medians(cases, env, samples, cwd=cwd)
        counts = {
            code: module_count(code, env)
            for code in ("import pluggy", "import vbwd_plugins", "from vbwd_plugins import *")
        }
    print(f"fresh processes, median of {samples}, interleaved")
    print(f"{'case':<28} {'ms':>7}")
    for name, seconds in times.items():
        print(f"{name:<28} {seconds * 1000:>7.1f}")
    for code, (count, heavy) in counts.items():
        print(f"{code!r}: {count} modules; heavy: {', '.join(heavy) or 'none'}")
    ok = True
    for case, baseline, target in TARGETS:
        ratio = times[case] / times[baseline]
        passed = ratio <= target
        ok &= passed
        print(
            f"{case} / {baseline}: {ratio:.2f} (target <= {target}): {'PASS' if passed else 'FAIL'}"
        )
    bare = times["python -c pass"]
    for case in ("import vbwd_plugins", "from vbwd_plugins import *"):
        whole = times[case] / times["import pluggy"]
        alone = (times[case] - bare) / (times["import pluggy"] - bare)
        print(
            f"{case} / import pluggy: {whole:.2f}; start-up subtracted: {alone:.2f} (reported only)"
        )
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
