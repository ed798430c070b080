"""A/B comparison of two builds of the canvas (``canvas.js`` and ``dist/``) on the editor figures that
missed their targets: opening the 200-node pipeline and zooming with the wheel at 1,000 nodes (and the
1,000-node open before the zoom, one per variant and round, which a change to the culling can move).

On 2 shared cores one run of ``bench_editor.py`` can differ from the next by 2×, so a change is measured
against the build before it in alternating rounds (A B, B A, A B, ...): two ``dagsmith edit`` servers with
identical stores, each serving one build (the component and bundle paths are swapped in the server process,
nothing in the working tree changes), a fresh Chromium for every variant and round. The report gives
each variant's median and the median of the per-round differences, with the load average before and after.

    .venv/bin/python bench/bench_editor_ab.py --rounds 6                 # A = HEAD, B = working tree
    .venv/bin/python bench/bench_editor_ab.py --a /tmp/old --b /tmp/new  # folders with canvas.js and dist/
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_editor import BIG_SIZE, SIZE, move_view, open_pipeline, prepare
from browser import TOKEN, BrowserCheckError, chromium, free_port, server_env, with_token

ROOT = Path(__file__).resolve().parents[1]
CANVAS = ROOT / "editor" / "canvas"
PYTHON = ROOT / ".venv" / "bin" / "python"
OPENS = 3  # 200-node opens per variant and round (after one warm-up)
ZOOMS = 2  # 2-second wheel zooms at 1,000 nodes per variant and round

# Run in the server process: point the canvas component and its bundle at the variant's folder, then
# start the editor as ``dagsmith edit`` does.
LAUNCHER = """
import sys
from pathlib import Path
from nicegui import dependencies
import dagsmith.editor.canvas.canvas  # registers the component and the bundle
variant = Path(sys.argv[1])
for component in dependencies.js_components.values():
    if component.path.name == "canvas.js" and component.path.parent.name == "canvas":
        component.path = variant / "canvas.js"
for module in dependencies.esm_modules.values():
    if module.name == "dagsmith-canvas-vendor":
        module.path = variant / "dist"
from dagsmith.editor.cli import main
sys.argv = ["dagsmith", *sys.argv[2:]]
sys.exit(main())
"""


def export_head(target: Path) -> Path:
    """The committed canvas (HEAD) in ``target``."""
    target.mkdir(parents=True)
    listing = subprocess.run(
        ["git", "ls-files", "editor/canvas/canvas.js", "editor/canvas/dist"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in listing:
        data = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, check=True, capture_output=True).stdout
        out = target / Path(name).relative_to("editor/canvas")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return target


def copy_tree(target: Path) -> Path:
    """The working tree's canvas, copied now (later edits do not change the run)."""
    target.mkdir(parents=True)
    shutil.copy2(CANVAS / "canvas.js", target / "canvas.js")
    shutil.copytree(CANVAS / "dist", target / "dist")
    return target


@contextmanager
def variant_server(home: Path, variant: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [str(PYTHON), "-c", LAUNCHER, str(variant), "edit", "--port", str(port), "--no-browser"],
            cwd=ROOT,
            env=server_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BrowserCheckError((home / "server.log").read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def one_round(base: str, made: dict[str, tuple[int, int]]) -> dict[str, list[float]]:
    driver = chromium()
    try:
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.get(with_token(base))
        plain, plain_edges = made["plain"]
        url = f"{base}/pipeline/{plain}"
        open_pipeline(driver, url, SIZE, plain_edges)  # warm up
        opens = [open_pipeline(driver, url, SIZE, plain_edges)["ready"] / 1000 for _ in range(OPENS)]
        big, big_edges = made["big"]
        big_open = open_pipeline(driver, f"{base}/pipeline/{big}", BIG_SIZE, big_edges)["ready"] / 1000
        zooms = [move_view(driver, "wheel")["fps"] for _ in range(ZOOMS)]
        return {"open": opens, "zoom": zooms, "open1000": [big_open]}
    finally:
        driver.quit()


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=Path, help="folder with canvas.js and dist/ (default: HEAD)")
    parser.add_argument("--b", type=Path, help="folder with canvas.js and dist/ (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and browsers on kill too
    with tempfile.TemporaryDirectory(prefix="dagsmith-ab-") as tmp:
        root = Path(tmp)
        variants = {"A": args.a or export_head(root / "A"), "B": args.b or copy_tree(root / "B")}
        results: dict[str, dict[str, list[float]]] = {v: {"open": [], "zoom": [], "open1000": []} for v in variants}
        pairs: dict[str, list[float]] = {"open": [], "zoom": [], "open1000": []}
        print(f"load average before: {loadavg()}")
        with ExitStack() as stack:
            made, bases = {}, {}
            for name, folder in variants.items():
                home = root / f"home-{name}"
                home.mkdir()
                made[name] = prepare(home)
                bases[name] = stack.enter_context(variant_server(home, folder))
            for index in range(args.rounds):
                order = ("A", "B") if index % 2 == 0 else ("B", "A")
                got = {name: one_round(bases[name], made[name]) for name in order}
                for name in order:
                    for figure, values in got[name].items():
                        results[name][figure].extend(values)
                for figure, differences in pairs.items():
                    differences.append(statistics.median(got["B"][figure]) - statistics.median(got["A"][figure]))
                print(
                    f"round {index + 1} ({''.join(order)}): "
                    + "; ".join(
                        f"{n} open {', '.join(f'{v:.2f}' for v in got[n]['open'])} s, "
                        f"zoom {', '.join(f'{v:.1f}' for v in got[n]['zoom'])} fps, "
                        f"open {BIG_SIZE} {got[n]['open1000'][0]:.2f} s"
                        for n in ("A", "B")
                    )
                    + f"  (load {loadavg()})"
                )
        print(f"load average after: {loadavg()}")
        for figure, unit in (("open", "s"), ("zoom", "fps"), ("open1000", "s")):
            a, b = statistics.median(results["A"][figure]), statistics.median(results["B"][figure])
            wins = sum(d > 0 for d in pairs[figure]) if figure == "zoom" else sum(d < 0 for d in pairs[figure])
            print(
                f"{figure}: median A {a:.3f} {unit}, B {b:.3f} {unit}; per-round B - A median "
                f"{statistics.median(pairs[figure]):+.3f} {unit}; B better in {wins} of {len(pairs[figure])} rounds"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
