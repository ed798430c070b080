"""Editor speed in headless Chromium against the real ``dagsmith edit`` server.

(a) Opening a 200-node pipeline: from navigation start to every node and edge drawn, measured and
    fitted into view (target < 2 s, median of several page loads).
(b) Connecting an edge that fixes a validation error: from the connection (the canvas's own ``onConnect``,
    what Vue Flow calls when a drag ends on a handle) to the target node losing its error class
    (target < 150 ms). The round trip is the user's: browser → Python (check, validate, save the draft)
    → browser.

Both are timed inside the page with ``performance.now()``; a breakdown says where the time goes.
Needs Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "editor"))  # the browser helpers

from browser import BrowserCheckError, chromium, editor_server, severe_logs, wait_for, with_token
from synthetic import synthetic_pipeline

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Edge, Node, Pipeline, Position, validate

SIZE = 200
LOAD_RUNS = 7
LOAD_TARGET_S = 2.0
CONNECT_RUNS = 15
CONNECT_TARGET_MS = 150.0
SOURCE = ("n199", "output")  # the last synthetic step; its 'any' output fits a register_model's run input

# Installed before every page load: records, with performance.now() (0 = navigation start), when the
# canvas mounted, when the first and all nodes arrived, and when the graph was fully drawn: every node
# measured and visible, every edge drawn, and the view fitted (fitView leaves the initial scale of 1).
PROBE = """
(() => {
  const want = %s;
  const marks = {};
  window.__dagsmithBench = marks;
  const mark = (name) => { if (!(name in marks)) marks[name] = performance.now(); };
  const frame = () => {
    if (document.querySelector('.vue-flow')) mark('canvas');
    const nodes = document.querySelectorAll('.vue-flow__node');
    if (nodes.length) mark('first_node');
    if (nodes.length === want.nodes) {
      mark('all_nodes');
      const pane = document.querySelector('.vue-flow__transformationpane');
      const fitted = pane && !/scale\\(1\\)/.test(pane.style.transform);
      const shown = [...nodes].every((n) => n.offsetWidth > 0 && n.style.visibility !== 'hidden');
      const edges = document.querySelectorAll('.vue-flow__edge').length === want.edges;
      if (shown) mark('measured');
      if (shown && edges && fitted) { mark('ready'); return; }
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
"""

CONNECT = """
const [source, sourceHandle, target, targetHandle, done] = arguments;
const canvas = document.querySelector('.dagsmith-canvas');
const vm = getElement(canvas);
const card = document.querySelector(`.vue-flow__node[data-id="${target}"] .dagsmith-node`);
if (!card || !card.classList.contains('dagsmith-has-error')) { done({error: `${target} shows no error`}); return; }
const edges = () => document.querySelectorAll('.vue-flow__edge').length;
const before = edges();
const result = {};
const timer = setTimeout(() => { observer.disconnect(); done({error: 'timeout', ...result}); }, 5000);
const observer = new MutationObserver(() => {
  const now = performance.now() - result.start;
  if (edges() > before && !('edge' in result)) result.edge = now;
  if (!card.classList.contains('dagsmith-has-error') && !('highlight' in result)) {
    result.highlight = now;
    observer.disconnect();
    clearTimeout(timer);
    requestAnimationFrame(() => { result.frame = performance.now() - result.start; done(result); });
  }
});
observer.observe(document.querySelector('.vue-flow'), {attributes: true, childList: true, subtree: true});
result.start = performance.now();
vm.onConnect({source, sourceHandle, target, targetHandle});
"""


def gated_pipeline(count: int) -> Pipeline:
    """The 200 synthetic steps plus ``count`` register_model steps whose required input is unconnected."""
    pipeline = synthetic_pipeline(SIZE)
    pipeline.settings.name = f"Synthetic {SIZE} with {count} unconnected registrations"
    for index in range(count):
        pipeline.nodes.append(
            Node(
                id=f"reg{index}",
                type="register_model",
                label=f"Register {index}",
                position=Position(x=index * 220.0, y=600.0),
                params={"model_name": f"model_{index}", "pod": {"image": "registry.example.com/ml/trainer:1.4"}},
            )
        )
    return pipeline


def prepare(home: Path) -> tuple[int, int, int, int]:
    """Create the pipelines in a fresh store under ``home``: (plain id, its edge count, gated id, its edges)."""
    services = EditorServices.open(f"sqlite:///{home / 'dagsmith.db'}")
    try:
        project = services.local_project()
        plain = synthetic_pipeline(SIZE)
        gated = gated_pipeline(CONNECT_RUNS)
        issues = validate(gated)
        assert all(i.node and i.node.startswith("reg") for i in issues if i.is_error), "only the gates may fail"
        check = gated.model_copy(deep=True)
        for index in range(CONNECT_RUNS):
            check.edges.append(Edge(id=f"x{index}", source=SOURCE[0], source_port=SOURCE[1], target=f"reg{index}",
                                    target_port="run"))  # fmt: skip
        assert not [i for i in validate(check) if i.is_error], "connecting every gate must fix its error"
        a = services.create(project.id, plain)
        b = services.create(project.id, gated)
        return a.id, len(plain.edges), b.id, len(gated.edges)
    finally:
        services.store.close()


def open_pipeline(driver: Any, url: str, nodes: int, edges: int) -> dict[str, float]:
    """Load the page once; the probe's marks (ms from navigation start) and the wall time (s)."""
    driver.get("about:blank")
    script = driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": PROBE % json.dumps({"nodes": nodes, "edges": edges})}
    )
    try:
        start = time.perf_counter()
        driver.get(url)
        marks = wait_for(
            lambda: (m := driver.execute_script("return window.__dagsmithBench")) and "ready" in m and m,
            "the pipeline to be drawn",
            timeout=60,
            interval=0.01,
        )
        wall = time.perf_counter() - start
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
    nav = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return {html: n.responseEnd, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd}"
    )
    return {**nav, **marks, "wall": wall * 1000}


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_load(driver: Any, base: str, pipeline_id: int, edges: int) -> None:
    url = f"{base}/pipeline/{pipeline_id}"
    open_pipeline(driver, url, SIZE, edges)  # warm up: the server's first render, the browser's caches
    runs = [open_pipeline(driver, url, SIZE, edges) for _ in range(LOAD_RUNS)]
    ready = median([r["ready"] for r in runs]) / 1000
    each = ", ".join(f"{r['ready'] / 1000:.2f}" for r in runs)
    print(
        f"open {SIZE}-node pipeline, navigation to fully drawn: median {ready:.3f} s  target {LOAD_TARGET_S:.1f} s  "
        f"ratio {ready / LOAD_TARGET_S:.2f}  (runs: {each}; "
        f"wall incl. WebDriver {median([r['wall'] for r in runs]) / 1000:.3f} s)"
    )
    steps = ("html", "dom", "load", "canvas", "first_node", "all_nodes", "measured", "ready")
    print("  breakdown, median ms from navigation start: " + ", ".join(f"{s} {median([r[s] for r in runs]):.0f}"
                                                                        for s in steps))  # fmt: skip


def bench_connect(driver: Any, base: str, pipeline_id: int, edges: int) -> None:
    open_pipeline(driver, f"{base}/pipeline/{pipeline_id}", SIZE + CONNECT_RUNS, edges)
    driver.set_script_timeout(10)
    results = []
    for index in range(CONNECT_RUNS):
        result = driver.execute_async_script(CONNECT, SOURCE[0], SOURCE[1], f"reg{index}", "run")
        if "error" in result:
            raise BrowserCheckError(f"connecting reg{index}: {result}")
        results.append(result)
    highlight = median([r["highlight"] for r in results])
    edge, frame = median([r["edge"] for r in results]), median([r["frame"] for r in results])
    print(
        f"connect an edge on {SIZE + CONNECT_RUNS} nodes → validation highlight: median {highlight:.1f} ms  "
        f"target {CONNECT_TARGET_MS:.0f} ms  ratio {highlight / CONNECT_TARGET_MS:.2f}  "
        f"(edge drawn {edge:.1f} ms, next frame {frame:.1f} ms, "
        f"max highlight {max(r['highlight'] for r in results):.1f} ms)"
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dagsmith-bench-") as tmp:
        home = Path(tmp)
        plain, plain_edges, gated, gated_edges = prepare(home)
        try:
            with editor_server(home) as base:
                driver = chromium()
                try:
                    driver.get(with_token(base))  # the editor's cookie for the pages opened below
                    bench_load(driver, base, plain, plain_edges)
                    bench_connect(driver, base, gated, gated_edges)
                    errors = severe_logs(driver)
                finally:
                    driver.quit()
        except BrowserCheckError as exc:
            print(f"editor benchmark failed: {exc}")
            return 1
    if errors:
        print(f"browser console errors: {errors}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
