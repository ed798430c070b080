"""A/B of the 1,000-node export: CPU time of ``render()`` at a git revision against the working tree.

Usage: ``.venv/bin/python bench/ab_export.py REVISION [--rounds N] [--renders N]``. REVISION's ``codegen``,
``nodes``, ``steps`` and ``bench`` are copied out with ``git archive``; each round starts one fresh process per
side (the side that goes first alternates) and times ``--renders`` exports of ``synthetic_pipeline(1000)`` after
a warm-up. CPU time (``time.process_time``), not wall time: on a shared machine wall time mostly measures the
other processes. Prints the medians, their ratio, whether both sides wrote the same bytes, and the load average.
Not run by ``make bench`` (it needs a revision).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("codegen", "nodes", "steps", "bench")

CHILD = """
import hashlib, json, sys, time
root, renders = sys.argv[1], int(sys.argv[2])
import __editable___dagsmith_0_1_0_finder as finder  # the editable install's map: point it at ``root``
finder.MAPPING.update({name: path.replace(sys.argv[3], root, 1) for name, path in finder.MAPPING.items()})
sys.path.insert(0, root + "/bench")
from synthetic import synthetic_pipeline
from dagsmith.codegen import render
assert sys.modules["dagsmith.codegen.render"].__file__.startswith(root)
pipeline = synthetic_pipeline(1000)
text = render(pipeline)
cpu = []
for _ in range(renders):
    start = time.process_time()
    render(pipeline)
    cpu.append(time.process_time() - start)
print("RESULT " + json.dumps({"cpu": cpu, "sha": hashlib.sha256(text.encode()).hexdigest()}))
"""


def export_revision(revision: str, into: Path) -> None:
    """The packages of ``revision`` under ``into``."""
    archive = subprocess.run(["git", "archive", revision, *PACKAGES], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def run_side(root: Path, renders: int) -> dict[str, object]:
    """One fresh process exporting with the packages under ``root``."""
    args = [sys.executable, "-c", CHILD, str(root), str(renders), str(ROOT)]
    result = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    found: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    return found


def main() -> None:
    """Alternate the two sides and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the git revision to compare the working tree against (e.g. HEAD~3)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds, one process per side each (default 6)")
    parser.add_argument("--renders", type=int, default=5, help="timed exports per process (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dagsmith-ab-") as tmp:
        old = Path(tmp)
        export_revision(args.revision, old)
        sides = {args.revision: old, "working tree": ROOT}
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        digests: dict[str, str] = {}
        for round_number in range(args.rounds):
            order = list(sides.items()) if round_number % 2 == 0 else list(reversed(sides.items()))
            for name, root in order:
                found = run_side(root, args.renders)
                cpu[name].extend(found["cpu"])  # type: ignore[arg-type]
                digests[name] = str(found["sha"])
    medians = {name: statistics.median(times) for name, times in cpu.items()}
    for name, median in medians.items():
        lowest = min(cpu[name]) * 1000
        print(f"{name:14} median {median * 1000:.0f} ms CPU, min {lowest:.0f} ms ({len(cpu[name])} exports)")
    print(f"ratio          working tree / {args.revision}: {medians['working tree'] / medians[args.revision]:.3f}")
    same = len(set(digests.values())) == 1
    shown = ", ".join(f"{name}: {digest[:12]}" for name, digest in digests.items())
    print(f"output         {'byte-identical' if same else 'DIFFERENT'} ({shown})")
    print("load           average over 1, 5, 15 minutes: " + ", ".join(f"{load:.1f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
