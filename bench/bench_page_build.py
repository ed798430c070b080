"""The event loop's CPU for building the pipeline page, a node's form and a dropped node (no browser).

What the team server's loop does for one user action, measured in-process with NiceGUI's simulated user
(``nicegui.testing.user_simulation``; the same page code as ``dagsmith serve``, on a local SQLite store):

  open     load the page: build the ``Workbench`` and render its HTML (every element serialised), then let
           the page's first updates go out (the outbox serialises each updated element)
  select   click a node of the open page (``nodeClicked``): build its form and send the updates
  drop     drop a script node from the palette (``nodeDropped``): add it, select it, show its form, save

Each figure is the loop thread's CPU time (``time.thread_time``) from the action until its updates are sent
and the draft saved: the waits in between are not counted, nor the worker threads (validation and the draft's
serialisation run there). So the figures hold still on a loaded machine better than wall-clock times do.
The pipeline is the keyword example the team load bench opens (6 nodes).

    .venv/bin/python bench/bench_page_build.py                      # this tree's editor, medians
    .venv/bin/python bench/bench_page_build.py --profile open       # cProfile of the opens, by cumulative time
    .venv/bin/python bench/bench_page_build.py --ab REV --rounds 6  # REV's editor/ against this tree's, interleaved
    .venv/bin/python bench/bench_page_build.py --ab REV --b REV2     # REV's against REV2's

``--ab`` runs the two editors in alternating fresh processes (A B, B A, ...): A is ``editor/`` as committed in
REV (extracted with ``git archive`` into a temporary folder), B the working tree's or REV2's. It prints each
variant's medians, the per-round ratio B/A and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import json
import logging
import os
import pstats
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ("open", "select", "drop")
OPENS, SELECTS, DROPS = 8, 24, 8
SETTLE = 0.05  # seconds to let the outbox send a cycle's updates (idle: not counted)


def use_editor(folder: Path) -> None:
    """Import ``dagsmith.editor`` from ``folder`` instead of this tree's (for the A/B)."""
    import dagsmith

    spec = importlib.util.spec_from_file_location(
        "dagsmith.editor", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dagsmith.editor"] = module
    dagsmith.editor = module  # type: ignore[attr-defined]
    spec.loader.exec_module(module)


async def settle(client: Any) -> None:
    """Until the client's outbox has sent what the action queued (a few rounds: a send may queue more)."""
    for _ in range(40):
        await asyncio.sleep(SETTLE)
        if not client.outbox.updates and not client.outbox.messages:
            return


async def measure(profile: str | None) -> dict[str, list[float]]:
    """Each action's loop CPU in ms, ``OPENS``/``SELECTS``/``DROPS`` times (after one warm-up each)."""
    from nicegui import ui
    from nicegui.testing.user_simulation import user_simulation

    from dagsmith.editor.canvas import PipelineCanvas
    from dagsmith.editor.pages import Workbench
    from dagsmith.editor.services import EditorServices
    from dagsmith.nodes import load_example

    times: dict[str, list[float]] = {action: [] for action in ACTIONS}
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as scratch:
        services = EditorServices.open(f"sqlite:///{Path(scratch) / 'editor.db'}")
        info = services.create(services.local_project().id, load_example("keyword_recommendation"))
        holder: dict[str, Any] = {}
        async with user_simulation() as user:

            @ui.page("/")
            def page() -> None:
                _, document, revision = services.open_draft(info.id)
                holder["bench"] = Workbench(services, info.id, document, info.name, revision)

            async def timed(action: str, run: Callable[[], Awaitable[Any]], record: bool) -> None:
                if profile == action and record:
                    profiler.enable()
                start = time.thread_time()
                await run()
                elapsed = (time.thread_time() - start) * 1000
                if profile == action and record:
                    profiler.disable()
                if record:
                    times[action].append(elapsed)

            async def open_page() -> None:
                client = await user.open("/")
                holder["client"] = client
                holder["bench"].canvas._handle_ready()  # what the browser's canvasReady does
                await settle(client)

            for index in range(OPENS + 1):
                if "client" in holder:
                    holder["client"].delete()
                await timed("open", open_page, index > 0)

            bench, client = holder["bench"], holder["client"]
            nodes = [node.id for node in bench.session.pipeline.nodes]

            async def click(node_id: str) -> None:
                user.find(PipelineCanvas).trigger("nodeClicked", {"id": node_id})
                await settle(client)

            for index in range(SELECTS + 1):
                await timed("select", lambda i=index: click(nodes[i % len(nodes)]), index > 0)

            async def drop(index: int) -> None:
                user.find(PipelineCanvas).trigger("nodeDropped", {"kind": "script", "x": 40 * index, "y": 600})
                await bench.drafts.flush()
                await settle(client)

            for index in range(DROPS + 1):
                await timed("drop", lambda i=index: drop(i), index > 0)
            client.delete()
    if profile:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(int(os.environ.get("BENCH_TOP", "45")))
    return times


def run_once(editor: Path | None, profile: str | None) -> dict[str, list[float]]:
    if editor is not None:
        use_editor(editor)
    logging.getLogger("nicegui").setLevel(logging.ERROR)
    return asyncio.run(measure(profile))


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def child(editor: Path | None) -> dict[str, list[float]]:
    """One measurement in a fresh process (``--json``)."""
    command = [sys.executable, __file__, "--json"]
    if editor is not None:
        command += ["--editor", str(editor)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    result: dict[str, list[float]] = json.loads(output.strip().splitlines()[-1])
    return result


def extract_editor(rev: str, target: Path) -> Path:
    """``editor/`` as committed in ``rev``, under ``target``."""
    archive = subprocess.run(["git", "archive", rev, "editor"], check=True, capture_output=True, cwd=ROOT).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "editor"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ab(rev: str, rounds: int, rev_b: str | None = None) -> None:
    print(f"load before: {load()}")
    medians: dict[str, dict[str, list[float]]] = {"A": {a: [] for a in ACTIONS}, "B": {a: [] for a in ACTIONS}}
    with tempfile.TemporaryDirectory() as scratch:
        old = extract_editor(rev, Path(scratch) / "a")
        new = extract_editor(rev_b, Path(scratch) / "b") if rev_b else None
        for round_number in range(rounds):
            order = ("A", "B") if round_number % 2 == 0 else ("B", "A")
            line = []
            for variant in order:
                result = child(old if variant == "A" else new)
                for action in ACTIONS:
                    medians[variant][action].append(median(result[action]))
            for action in ACTIONS:
                a, b = medians["A"][action][-1], medians["B"][action][-1]
                line.append(f"{action} A {a:.1f} B {b:.1f} ms (B/A {b / a:.2f})")
            print(f"round {round_number + 1} ({'-'.join(order)}, load {load()}): " + "; ".join(line), flush=True)
    print(f"load after: {load()}")
    for action in ACTIONS:
        a, b = medians["A"][action], medians["B"][action]
        ratios = [y / x for x, y in zip(a, b, strict=True)]
        print(
            f"{action:6}  A ({rev}) median {median(a):7.1f} ms   B ({rev_b or 'working tree'}) "
            f"median {median(b):7.1f} ms   "
            f"B/A per round median {median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=ACTIONS, help="print a cProfile of this action's runs")
    parser.add_argument("--ab", metavar="REV", help="compare REV's editor/ (A) with the working tree's (B)")
    parser.add_argument("--b", metavar="REV2", help="with --ab: REV2's editor/ as B instead of the working tree's")
    parser.add_argument("--rounds", type=int, default=6, help="A/B rounds (default 6)")
    parser.add_argument("--editor", type=Path, help=argparse.SUPPRESS)  # an editor/ folder to import instead
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one run's times as JSON
    args = parser.parse_args()
    if args.ab:
        ab(args.ab, args.rounds, args.b)
        return
    before = load()
    times = run_once(args.editor, args.profile)
    if args.json:
        print(json.dumps(times))
        return
    print(f"load before {before}, after {load()}")
    for action in ACTIONS:
        values = times[action]
        low, high = min(values), max(values)
        print(f"{action:6}  median {median(values):7.1f} ms  min {low:7.1f}  max {high:7.1f}  (n={len(values)})")


if __name__ == "__main__":
    main()
