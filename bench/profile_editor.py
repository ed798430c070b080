"""Chrome CPU profiles of the editor figures that miss their targets (bench/PROFILE.md summarises them).

(a) opening the 200-node pipeline (navigation until the graph is drawn), (b) zooming with the wheel at
1,000 nodes, (c) opening the 1,000-node pipeline, (d) the 15 node selections and (e) the 15 connections
of ``bench_editor.py`` (for these two the page's (idle) is the time spent waiting for the server's answer,
Python and the websocket). Each runs under the DevTools protocol's sampling profiler
(``Profiler.start``/``stop`` through Selenium's CDP), and the script prints the functions with the most
self time, by script, plus the time in the page's garbage collector, (program) and (idle). ``--save DIR``
keeps the ``.cpuprofile`` files (Chrome DevTools → Performance → Load profile).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_editor import (
    BIG_SIZE,
    CONNECT_RUNS,
    SELECT_RUNS,
    SELECT_SIZE,
    SIZE,
    bench_connect,
    bench_select,
    move_view,
    open_pipeline,
    prepare,
)
from browser import chromium, editor_server, with_token

TOP = 15


def profiled(driver: Any, action: Any) -> dict[str, Any]:
    driver.execute_cdp_cmd("Profiler.enable", {})
    driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 200})  # microseconds
    driver.execute_cdp_cmd("Profiler.start", {})
    try:
        action()
    finally:
        profile: dict[str, Any] = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
    return profile


def self_times(profile: dict[str, Any]) -> tuple[Counter[str], float]:
    """Self time in ms by 'function (script:line)', and the profile's whole length in ms."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    by_node: Counter[int] = Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        by_node[sample] += delta
    result: Counter[str] = Counter()
    for node_id, micros in by_node.items():
        frame = nodes[node_id]["callFrame"]
        script = frame["url"].rsplit("/", 1)[-1] or "-"
        name = frame["functionName"] or "(anonymous)"
        key = name if name.startswith("(") else f"{name} ({script}:{frame['lineNumber'] + 1})"
        result[key] += micros / 1000
    return result, (profile["endTime"] - profile["startTime"]) / 1000


def by_script(profile: dict[str, Any]) -> Counter[str]:
    nodes = {node["id"]: node for node in profile["nodes"]}
    result: Counter[str] = Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        url = nodes[sample]["callFrame"]["url"]
        result[url.rsplit("/", 1)[-1] or nodes[sample]["callFrame"]["functionName"] or "-"] += delta / 1000
    return result


def report(title: str, profile: dict[str, Any]) -> None:
    times, total = self_times(profile)
    print(f"\n## {title}: {total:.0f} ms profiled")
    print("self time by script: " + ", ".join(f"{k} {v:.0f} ms" for k, v in by_script(profile).most_common(8)))
    for key, ms in times.most_common(TOP):
        print(f"  {ms:8.1f} ms  {100 * ms / total:5.1f} %  {key}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--save", type=Path, help="folder for the .cpuprofile files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dagsmith-profile-") as tmp:
        home = Path(tmp)
        made = prepare(home)
        with editor_server(home) as base:
            driver = chromium()
            try:
                driver.get(with_token(base))
                plain, plain_edges = made["plain"]
                url = f"{base}/pipeline/{plain}"
                open_pipeline(driver, url, SIZE, plain_edges)  # warm up
                marks: dict[str, float] = {}
                load = profiled(driver, lambda: marks.update(open_pipeline(driver, url, SIZE, plain_edges)))
                report(
                    f"open {SIZE} nodes (first node {marks['first_node']:.0f} ms, ready {marks['ready']:.0f} ms)", load
                )
                big, big_edges = made["big"]
                open_pipeline(driver, f"{base}/pipeline/{big}", BIG_SIZE, big_edges)
                zoom = profiled(driver, lambda: wheel(driver))
                report(f"zoom at {BIG_SIZE} nodes", zoom)
                big_url = f"{base}/pipeline/{big}"
                big_open = profiled(driver, lambda: marks.update(open_pipeline(driver, big_url, BIG_SIZE, big_edges)))
                report(f"open {BIG_SIZE} nodes (ready {marks['ready']:.0f} ms)", big_open)
                small, small_edges = made["small"]
                open_pipeline(driver, f"{base}/pipeline/{small}", SELECT_SIZE, small_edges)
                select = profiled(driver, lambda: bench_select(driver, base, small, small_edges, opened=True))
                report(f"select a node of {SELECT_SIZE}, {SELECT_RUNS} times", select)
                gated, gated_edges = made["gated"]
                open_pipeline(driver, f"{base}/pipeline/{gated}", SIZE + CONNECT_RUNS, gated_edges)
                connect = profiled(driver, lambda: bench_connect(driver, base, gated, gated_edges, opened=True))
                report(f"connect an edge on {SIZE + CONNECT_RUNS} nodes, {CONNECT_RUNS} times", connect)
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    for name, profile in (("open-200", load), ("zoom-1000", zoom), ("open-1000", big_open),
                                          ("select-100", select), ("connect-215", connect)):  # fmt: skip
                        (args.save / f"{name}.cpuprofile").write_text(json.dumps(profile))
            finally:
                driver.quit()
    return 0


def wheel(driver: Any) -> None:
    frames = move_view(driver, "wheel")
    print(
        f"zoom: {frames['fps']:.1f} frames/s, longest frame {frames['worst']:.1f} ms, "
        f"{frames['events']:.0f} wheel events"
    )


if __name__ == "__main__":
    sys.exit(main())
