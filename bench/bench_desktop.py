"""The installable desktop package (issue 15), as a user gets it: dist/dagsmith_*.deb from ``make package``.

(a) Package size: the .deb file (target <= 200 MB).
(b) ``dagsmith --help`` from the installed package (target <= 1 s, median; the first, cold run is shown too).
(c) Launch until the editor answers: ``dagsmith desktop FILE`` under Xvfb until the server answers with the
    launch token, and until the window shows the pipeline's page with its nodes drawn (target <= 3 s, median).
(d) Build time: what ``make package`` recorded in dist/package-build.json (target <= 8 min).

The package is installed with ``dpkg-deb -x`` into a scratch prefix, so nothing on the machine changes.
Skips (exit 0) when no package is built. Needs Xvfb for (c).
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "editor"))  # the package helpers

from packaged_app import (
    ROOT,
    all_drawn,
    close,
    evaluate,
    example_file,
    find_deb,
    install,
    kill,
    launch,
    wait_until,
    xvfb,
)

SIZE_TARGET_MB = 200.0
HELP_TARGET_S = 1.0
LAUNCH_TARGET_S = 3.0
BUILD_TARGET_S = 8 * 60.0
HELP_RUNS = 7
LAUNCH_RUNS = 5
BUILD_RECORD = ROOT / "dist" / "package-build.json"


def line(name: str, value: float, target: float, unit: str) -> None:
    """One figure with its target and ratio."""
    ratio = value / target
    verdict = "OK" if ratio <= 1 else "OVER"
    print(f"{name:34} {value:8.2f} {unit:3} (target <= {target:g} {unit}, ratio {ratio:.2f})  {verdict}")


def help_seconds(exe: Path) -> list[float]:
    """Wall-clock seconds of ``dagsmith --help``, HELP_RUNS times (the first one cold)."""
    seconds = []
    for _ in range(HELP_RUNS):
        began = time.perf_counter()
        subprocess.run([str(exe), "--help"], capture_output=True, check=True, timeout=120)
        seconds.append(time.perf_counter() - began)
    return seconds


def launch_seconds(exe: Path, work: Path, display: str, run: int) -> tuple[float, float]:
    """Seconds from starting ``dagsmith desktop FILE`` until the server answers, and until the window shows
    the pipeline's page with every node drawn."""
    file = work / f"bench-{run}.dagsmith.json"
    nodes = example_file(exe, file, f"Bench {run}")
    began = time.perf_counter()
    app = launch(exe, display, work / f"home-{run}", str(file))
    try:
        if not wait_until(app.answers, timeout=120, interval=0.02):
            raise RuntimeError(f"the editor did not answer:\n{app.output()}")
        answered = time.perf_counter() - began

        def drawn() -> bool:
            pages = [page for page in app.pages() if re.search(r"/pipeline/\d+$", page.get("url", ""))]
            return bool(pages) and evaluate(pages[0], all_drawn(nodes)) is True

        if not wait_until(drawn, timeout=120, interval=0.05):
            raise RuntimeError(f"the window never showed the pipeline:\n{app.output()}")
        shown = time.perf_counter() - began
        left = close(app)
        if left:
            raise RuntimeError(f"processes left after closing: {left}")
        return answered, shown
    finally:
        kill(app)


def main() -> int:
    deb = find_deb()
    if deb is None or not deb.is_file():
        print("no desktop package built: run `make package` (dist/dagsmith_*.deb); skipped")
        return 0
    print(f"package {deb.relative_to(ROOT) if deb.is_relative_to(ROOT) else deb}")
    line("package size (.deb)", deb.stat().st_size / 1e6, SIZE_TARGET_MB, "MB")
    with tempfile.TemporaryDirectory(prefix="dagsmith-bench-desktop-") as scratch:
        work = Path(scratch)
        exe = install(deb, work / "prefix")
        files = [path for path in (work / "prefix").rglob("*") if path.is_file() and not path.is_symlink()]
        installed = sum(path.lstat().st_size for path in files)
        print(f"{'installed size':34} {installed / 1e6:8.2f} MB")
        seconds = help_seconds(exe)
        print(f"{'dagsmith --help, first run':34} {seconds[0]:8.2f} s")
        line(f"dagsmith --help, median of {HELP_RUNS}", statistics.median(seconds), HELP_TARGET_S, "s")
        if shutil.which("Xvfb") is None:
            print("launch: Xvfb is not installed (apt-get install xvfb); skipped")
        else:
            with xvfb() as display:
                launches = [launch_seconds(exe, work, display, run) for run in range(LAUNCH_RUNS)]
            line(
                f"launch until the editor answers, median of {LAUNCH_RUNS}",
                statistics.median(answered for answered, _ in launches),
                LAUNCH_TARGET_S,
                "s",
            )
            line(
                "launch until the pipeline is drawn",
                statistics.median(shown for _, shown in launches),
                LAUNCH_TARGET_S,
                "s",
            )
    if BUILD_RECORD.is_file():
        record = json.loads(BUILD_RECORD.read_text())
        line("build time (make package)", float(record["seconds"]), BUILD_TARGET_S, "s")
        print(f"{'  of which PyInstaller':34} {float(record['pyinstaller_seconds']):8.2f} s")
    else:
        print(f"build time: {BUILD_RECORD.relative_to(ROOT)} is missing (make package writes it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
