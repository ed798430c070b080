"""Editor speed in headless Chromium against the real ``dagsmith edit`` server.

(a) Opening a 200-node pipeline: from navigation start to the graph drawn: fitted into view, every node
    in view drawn and measured, and nothing more drawn for two frames (target 1.2 s, median of several page
    loads). The canvas draws only what is in view (Vue Flow's ``only-render-visible-elements``), so "all
    nodes drawn" means all nodes that can be seen.
(b) Connecting an edge that fixes a validation error: from the connection (the canvas's own ``onConnect``,
    what Vue Flow calls when a drag ends on a handle) to the target node losing its error class
    (target 100 ms). The round trip is the user's: browser → Python (check, validate, save the draft)
    → browser.
(c) Selecting a node of a 100-node pipeline: from the click (a real mouse click through CDP) to its form in
    the inspector (target 100 ms).
(d) Opening a 1,000-node pipeline, as (a) (target 3 s).
(e) Panning and zooming at 1,000 nodes: frames per second counted with requestAnimationFrame while real
    mouse drags and wheel turns (CDP ``Input.dispatchMouseEvent``) move the view (target ≥ 50).

All are timed inside the page with ``performance.now()``; a breakdown says where the time goes.
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
LOAD_TARGET_S = 1.2
CONNECT_RUNS = 15
CONNECT_TARGET_MS = 100.0
SELECT_SIZE = 100
SELECT_RUNS = 15
SELECT_TARGET_MS = 100.0
BIG_SIZE = 1000
BIG_RUNS = 3
BIG_TARGET_S = 3.0
FPS_TARGET = 50.0
SOURCE = ("n199", "output")  # the last synthetic step; its 'any' output fits a register_model's run input

# Installed before every page load: records, with performance.now() (0 = navigation start), when the
# canvas mounted, when the first node was drawn and all nodes arrived in the canvas, and when the graph was
# fully drawn: the view fitted (fitView leaves the initial scale of 1), every node drawn measured and
# visible, edges drawn, and nothing more drawn for two frames (ready is the first of those frames).
PROBE = """
(() => {
  const want = %s;
  const marks = {};
  window.__dagsmithBench = marks;
  const mark = (name) => { if (!(name in marks)) marks[name] = performance.now(); };
  let last = '', same = 0, since = 0;
  const frame = () => {
    if (document.querySelector('.vue-flow')) mark('canvas');
    const nodes = document.querySelectorAll('.vue-flow__node');
    if (nodes.length) mark('first_node');
    const canvas = document.querySelector('.dagsmith-canvas');
    const flow = canvas && window.getElement && getElement(canvas)?.flow;
    if (flow && flow.nodes.value.length === want.nodes && nodes.length) {
      mark('all_nodes');  // every node is in the canvas; those in view are drawn
      const pane = document.querySelector('.vue-flow__transformationpane');
      const fitted = pane && !/scale\\(1\\)/.test(pane.style.transform);
      const shown = [...nodes].every((n) => n.offsetWidth > 0 && n.style.visibility !== 'hidden');
      const edges = document.querySelectorAll('.vue-flow__edge').length;
      if (shown) mark('measured');
      const now = `${nodes.length}/${edges}/${pane && pane.style.transform}`;
      if (now !== last) since = performance.now();
      same = now === last ? same + 1 : 0;
      last = now;
      // Ready when it was first drawn so: the two frames that show nothing more changed are not counted.
      if (shown && fitted && (edges || !want.edges) && same >= 2) { marks.ready = since; return; }
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


def prepare(home: Path) -> dict[str, tuple[int, int]]:
    """Create the pipelines in a fresh store under ``home``: (id, edge count) by role."""
    services = EditorServices.open(f"sqlite:///{home / 'dagsmith.db'}")
    try:
        project = services.local_project()
        plain = synthetic_pipeline(SIZE)
        small = synthetic_pipeline(SELECT_SIZE)
        big = synthetic_pipeline(BIG_SIZE)
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
        c = services.create(project.id, small)
        d = services.create(project.id, big)
        return {
            "plain": (a.id, len(plain.edges)),
            "gated": (b.id, len(gated.edges)),
            "small": (c.id, len(small.edges)),
            "big": (d.id, len(big.edges)),
        }
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


def bench_connect(driver: Any, base: str, pipeline_id: int, edges: int, *, opened: bool = False) -> None:
    """``opened``: the page is already open (``profile_editor.py`` profiles the connections alone)."""
    if not opened:
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


SELECT = """
// The body of a function of (nodeId, x, y, done): done(result) once the node's form is shown.
const inspector = document.querySelector('.q-drawer--right');
const wanted = `id: ${nodeId} ·`;
const result = {};
const shown = () => [...inspector.querySelectorAll('.text-caption')].some((e) => e.textContent.startsWith(wanted))
  && inspector.querySelector('[data-field="script"]');
const timer = setTimeout(() => { observer.disconnect(); done({error: 'timeout'}); }, 5000);
const observer = new MutationObserver(() => {
  if (shown()) {
    result.form = performance.now() - result.start;
    observer.disconnect();
    clearTimeout(timer);
    requestAnimationFrame(() => { result.frame = performance.now() - result.start; done(result); });
  }
});
observer.observe(inspector, {childList: true, subtree: true, characterData: true});
window.addEventListener('pointerdown', () => { result.start ??= performance.now(); }, {capture: true, once: true});
"""

FRAMES = """
// The body of a function of (seconds, done): done({fps, worst}) after counting frames for that long.
let frames = 0, start = null, worst = 0, previous = null;
const tick = (now) => {
  if (start === null) start = now;
  if (previous !== null) worst = Math.max(worst, now - previous);
  previous = now;
  frames += 1;
  if (now - start < seconds * 1000) requestAnimationFrame(tick);
  else done({fps: (frames - 1) / ((now - start) / 1000), worst});
};
requestAnimationFrame(tick);
"""


def mouse(driver: Any, kind: str, x: float, y: float, **extra: Any) -> None:
    """One real mouse event through CDP (Chromium handles it like a hand's)."""
    driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **extra})


def node_center(driver: Any, node_id: str) -> tuple[float, float]:
    rect = driver.execute_script(
        "const r = document.querySelector(`.vue-flow__node[data-id='${arguments[0]}'] .dagsmith-node__header`)"
        "?.getBoundingClientRect(); return r && [r.left + r.width / 2, r.top + r.height / 2]",
        node_id,
    )
    if not rect:
        raise BrowserCheckError(f"node {node_id} is not drawn")
    return float(rect[0]), float(rect[1])


def bench_select(driver: Any, base: str, pipeline_id: int, edges: int, *, opened: bool = False) -> None:
    """``opened``: the page is already open (``profile_editor.py`` profiles the selections alone)."""
    if not opened:
        open_pipeline(driver, f"{base}/pipeline/{pipeline_id}", SELECT_SIZE, edges)
    # The nodes a click reaches: their header's middle is not under the search box, the minimap or the controls.
    drawn = driver.execute_script(
        "return [...document.querySelectorAll('.vue-flow__node')].filter((n) => {"
        "  const r = n.querySelector('.dagsmith-node__header').getBoundingClientRect();"
        "  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
        "  return hit && hit.closest('.vue-flow__node') === n; }).map(n => n.getAttribute('data-id'))"
    )
    if not drawn:
        raise BrowserCheckError("no node can be clicked")
    driver.set_script_timeout(10)
    results = []
    for index in range(SELECT_RUNS):
        node_id = drawn[(index * 7) % len(drawn)]
        x, y = node_center(driver, node_id)
        # Start listening, then click with the mouse; the page times from the pointerdown.
        driver.execute_script("window.__select = null;")
        driver.execute_script(
            "const [id, x, y] = arguments; const s = new Function('nodeId', 'x', 'y', 'done', arguments[3]);"
            "s(id, x, y, (r) => { window.__select = r; });",
            node_id,
            x,
            y,
            SELECT,
        )
        mouse(driver, "mousePressed", x, y, button="left", clickCount=1)
        mouse(driver, "mouseReleased", x, y, button="left", clickCount=1)
        result = wait_for(lambda: driver.execute_script("return window.__select"), "the form", timeout=10)
        if "error" in result:
            raise BrowserCheckError(f"selecting {node_id}: {result}")
        results.append(result)
    form = median([r["form"] for r in results])
    print(
        f"select a node of {SELECT_SIZE} → its form shown: median {form:.1f} ms  target {SELECT_TARGET_MS:.0f} ms  "
        f"ratio {form / SELECT_TARGET_MS:.2f}  (next frame {median([r['frame'] for r in results]):.1f} ms, "
        f"max {max(r['form'] for r in results):.1f} ms)"
    )


def bench_big(driver: Any, base: str, pipeline_id: int, edges: int) -> None:
    url = f"{base}/pipeline/{pipeline_id}"
    open_pipeline(driver, url, BIG_SIZE, edges)  # warm up
    runs = [open_pipeline(driver, url, BIG_SIZE, edges) for _ in range(BIG_RUNS)]
    ready = median([r["ready"] for r in runs]) / 1000
    each = ", ".join(f"{r['ready'] / 1000:.2f}" for r in runs)
    print(
        f"open {BIG_SIZE}-node pipeline, navigation to drawn: median {ready:.3f} s  target {BIG_TARGET_S:.1f} s  "
        f"ratio {ready / BIG_TARGET_S:.2f}  (runs: {each})"
    )
    for label, gesture in (("pan (drag)", "drag"), ("zoom (wheel)", "wheel")):
        frames = move_view(driver, gesture)
        print(
            f"{label} at {BIG_SIZE} nodes: {frames['fps']:.1f} frames/s  target ≥ {FPS_TARGET:.0f}  "
            f"ratio {frames['fps'] / FPS_TARGET:.2f}  "
            f"(longest frame {frames['worst']:.1f} ms, {frames['events']} events)"
        )


def move_view(driver: Any, gesture: str, seconds: float = 2) -> dict[str, float]:
    """Drag the pane back and forth (``drag``) or turn the wheel in and out (``wheel``) for ``seconds``,
    with real mouse events at the pane's centre: ``{fps, worst, events}`` counted in the page."""
    driver.set_script_timeout(30)
    pane = driver.execute_script("const r = document.querySelector('.vue-flow__pane').getBoundingClientRect();"
                                 "return [r.left, r.top, r.width, r.height]")  # fmt: skip
    cx, cy = pane[0] + pane[2] / 2, pane[1] + pane[3] / 2
    driver.execute_script(
        "const s = new Function('seconds', 'done', arguments[0]); window.__frames = null;"
        "s(arguments[1], (r) => { window.__frames = r; });",
        FRAMES,
        seconds,
    )
    if gesture == "drag":
        mouse(driver, "mousePressed", cx, cy, button="left", clickCount=1)
    step = 0
    while not driver.execute_script("return window.__frames"):
        step += 1
        if gesture == "drag":
            dx = 150 * ((step // 20) % 2 * 2 - 1)  # back and forth
            mouse(driver, "mouseMoved", cx + dx * (step % 20) / 20, cy, button="left", buttons=1)
        else:
            delta = 40 if (step // 15) % 2 else -40
            mouse(driver, "mouseWheel", cx, cy, deltaX=0, deltaY=delta)
    if gesture == "drag":
        mouse(driver, "mouseReleased", cx, cy, button="left", clickCount=1)
    frames: dict[str, float] = driver.execute_script("return window.__frames")
    return {**frames, "events": step}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dagsmith-bench-") as tmp:
        home = Path(tmp)
        made = prepare(home)
        try:
            with editor_server(home) as base:
                driver = chromium()
                try:
                    driver.get(with_token(base))  # the editor's cookie for the pages opened below
                    bench_load(driver, base, *made["plain"])
                    bench_connect(driver, base, *made["gated"])
                    bench_select(driver, base, *made["small"])
                    bench_big(driver, base, *made["big"])
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
