"""Validation speed: in-process on 1,000 and 10,000 nodes, and `dagsmith validate` wall time on 1,000.

Targets: ≤ 50 ms and ≤ 500 ms in process, < 1 s for the CLI including start-up; cost linear in size.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_pipeline

from dagsmith.nodes import has_errors, save, validate


def median_seconds(fn: object, repeat: int) -> float:
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print medians and their ratio to the targets."""
    per_node = {}
    for size, target, repeat in ((1_000, 0.050, 15), (10_000, 0.500, 5)):
        pipeline = synthetic_pipeline(size)
        assert not has_errors(validate(pipeline)), "the synthetic pipeline must be valid"
        seconds = median_seconds(lambda p=pipeline: validate(p), repeat)
        per_node[size] = seconds / size
        print(
            f"validate {size:>6} nodes in process: median {seconds * 1000:8.1f} ms  target {target * 1000:.0f} ms  "
            f"ratio {seconds / target:.2f}"
        )
    print(f"growth: per-node cost at 10,000 / at 1,000 = {per_node[10_000] / per_node[1_000]:.2f} (1.0 = linear)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.dagsmith.json"
        save(synthetic_pipeline(1_000), path)
        exe = Path(sys.executable).with_name("dagsmith")

        def cli() -> None:
            subprocess.run([str(exe), "validate", str(path)], check=True, capture_output=True)

        cli()  # warm the file cache and byte-code
        seconds = median_seconds(cli, 7)
        bare = median_seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 7)
        print(
            f"dagsmith validate 1,000-node file (wall, start-up included): median {seconds:.3f} s  target 1.0 s  "
            f"ratio {seconds:.2f}  (bare python start-up {bare:.3f} s)"
        )


if __name__ == "__main__":
    main()
