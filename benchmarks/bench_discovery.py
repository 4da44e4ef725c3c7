"""Discovery cost: ``PluginManager.discover()`` vs bare ``entry_points(group=...)``.

For N = 10, 100, 500 and 5000 fake installed distributions (real ``*.dist-info`` directories
on a temporary ``sys.path`` entry), every sample runs in a fresh interpreter, as discovery
does at start-up. Both measurements are taken in the same run, interleaved, and the median
ratio is printed. Both samples import ``importlib.metadata`` before the timed region
(``import vbwd_plugins`` does not, and ``discover()`` would import it on its first call), so
the regions compare the same work on the heap each process has. The discovery samples also
check that no plugin module was imported. Target: ratio <= 1.2 at N = 500 and N = 5000.

    python benchmarks/bench_discovery.py [--samples 15] [--sizes 10 100 500 5000] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _fresh import bytecode_cache

GROUP = "vbwd.plugins"
TARGET_RATIO = 1.2
TARGET_SIZES = (500, 5000)

BARE = """
import json, time
from importlib.metadata import entry_points
t0 = time.perf_counter_ns()
eps = entry_points(group={group!r})
found = [(ep.name, ep.value) for ep in eps]
t1 = time.perf_counter_ns()
print(json.dumps({{"ns": t1 - t0, "count": len(found)}}))
"""

DISCOVER = """
import json, sys, time
import importlib.metadata
from vbwd_plugins import PluginManager
manager = PluginManager()
t0 = time.perf_counter_ns()
found = manager.discover({group!r})
t1 = time.perf_counter_ns()
imported = sorted(m for m in sys.modules if m.startswith("benchplug_"))
print(json.dumps({{"ns": t1 - t0, "count": len(found), "imported": imported}}))
"""


def make_site(root: Path, count: int) -> Path:
    """Create ``count`` distributions whose plugin modules would fail loudly if imported."""
    site = root / f"site-{count}"
    site.mkdir()
    for i in range(count):
        info = site / f"benchplug_{i}-1.0.{i}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: benchplug-{i}\nVersion: 1.0.{i}\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[{GROUP}]\nbench{i} = benchplug_{i}:Plugin\n", encoding="utf-8"
        )
        (site / f"benchplug_{i}.py").write_text(
            "raise RuntimeError('discovery must not import plugin modules')\n", encoding="utf-8"
        )
    return site


def sample(code: str, site: Path, base_env: dict[str, str]) -> dict[str, object]:
    env = dict(base_env)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15, help="rounds (at least 7)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 500, 5000])
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args, _ = parser.parse_known_args()  # run.py passes every benchmark the same arguments
    samples = max(args.samples, 7)
    bare_code, discover_code = BARE.format(group=GROUP), DISCOVER.format(group=GROUP)
    ok = True
    print(f"{'N':>5} {'entry_points() us':>18} {'discover() us':>14} {'ratio':>7}  target")
    with tempfile.TemporaryDirectory() as tmp, bytecode_cache() as env:
        for size in args.sizes:
            site = make_site(Path(tmp), size)
            bare: list[int] = []
            disc: list[int] = []
            sample(bare_code, site, env)  # fills the bytecode cache
            sample(discover_code, site, env)
            for _ in range(samples):  # interleaved: both see the same machine noise
                b = sample(bare_code, site, env)
                d = sample(discover_code, site, env)
                if d["imported"]:
                    raise SystemExit(f"discover() imported plugin modules: {d['imported']}")
                if int(str(d["count"])) < size or int(str(b["count"])) < size:
                    raise SystemExit(f"expected at least {size} plugins, got {b} / {d}")
                bare.append(int(str(b["ns"])))
                disc.append(int(str(d["ns"])))
            b_med, d_med = statistics.median(bare), statistics.median(disc)
            ratio = d_med / b_med
            verdict = ""
            if size in TARGET_SIZES:
                passed = ratio <= TARGET_RATIO
                ok &= passed
                verdict = f"<= {TARGET_RATIO}: {'PASS' if passed else 'FAIL'}"
            print(f"{size:>5} {b_med / 1000:>18.1f} {d_med / 1000:>14.1f} {ratio:>7.2f}  {verdict}")
    print("no plugin module was imported by discover()")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
