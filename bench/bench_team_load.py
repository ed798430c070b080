"""Team server under load: simulated users on two ``dagsmith serve`` replicas sharing one PostgreSQL.

Everything runs on loopback: a throw-away PostgreSQL cluster, two replicas, and USERS users (threads), half
signed in on each replica, five to a pipeline so that every pipeline is edited through both replicas at
once. Each user drives real pipeline pages over socket.io's websocket exactly as NiceGUI's client does
(``tests/editor/team_servers.PageClient``), ROUNDS times:

  open     load ``/pipeline/{id}``, connect the socket, the canvas mounts: until the graph is sent
  drop     drop a node from the palette: until the page says the draft is saved
  select   click that node: until its form is shown
  label    type a label of the user's own into the node's form: until saved
  connect  connect the node to the pipeline's Train step: until saved
  save     press "Save version": until the page says which version holds it
  export   press "Export": until the export dialog shows the DAG

Each action's latency is from the event sent to that answer. An error is an action with no answer within
60 s, a page load that is not HTTP 200, a closed socket, an answer that is wrong (the dropped node not on the
page), or a red notice; each is counted under its kind (the action and what went wrong), and a user's round
stops at its first error. Warnings (e.g. "also changed in another tab") are counted apart. A lost update is a
node, label or edge a user saw saved that the pipeline's final draft does not hold.

Two ways to load the servers (``--think MIN,MAX`` and ``--ramp SECONDS``):

  stampede  ``--think 0 --ramp 0``: every user starts at the same instant and sends each action as soon as the
            last one was answered. A closed-loop saturation test: on 2 cores it measures mostly queueing
            (how long 50 users' work waits for the CPU), not what one action costs.
  paced     ``--think 1,3 --ramp 10`` (the default pace): like Locust's users (``wait_time = between(1, 3)``
            and a spawn rate, here 50 users over 10 s), each user pauses a random 1 to 3 s before each action,
            as a person reads the page and picks the next gesture, and the users start evenly spread over
            10 s instead of at once. Pauses are not part of any latency.

Without ``--think`` and ``--ramp`` the bench measures both, one after the other, each on fresh replicas and a
fresh database: ``make bench`` prints both. With either, it measures that one (the other defaults to 0).

Targets (issue 13): p95 ≤ 300 ms, 0 lost updates, 0 errors.

Run:  .venv/bin/python bench/bench_team_load.py [USERS] [ROUNDS] [--think MIN,MAX] [--ramp SECONDS] [--logs DIR]
(defaults 50 and 2, both paces; needs PostgreSQL's server binaries, ``apt-get install postgresql``). It prints
the figures, the error kinds, the replicas' most frequent log errors and ``uptime``'s load before and after;
``--logs`` keeps the replicas' logs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "editor"))  # the team server helpers

from team_servers import PASSWORD, PageClient, Replica, postgres, replica

from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.nodes import load_example

USERS, ROUNDS, PER_PIPELINE = 50, 2, 5
KIND, TARGET = "script", "train"
PACED_THINK, PACED_RAMP = (1.0, 3.0), 10.0
"""The paced run's think time (seconds, uniform, before each action) and ramp-up (seconds to start every user)."""


@dataclass(frozen=True)
class Pace:
    """How the users act: ``think`` (min, max) seconds of pause before each action, ``ramp`` seconds to start."""

    think: tuple[float, float] = (0.0, 0.0)
    ramp: float = 0.0

    def __str__(self) -> str:
        low, high = self.think
        if self == Pace():
            return "stampede: think 0 s (no pause between actions), ramp 0 s (every user at once)"
        return f"paced: think {low:g}-{high:g} s before each action, ramp {self.ramp:g} s"

    def start_delay(self, number: int, users: int) -> float:
        """When user ``number`` starts, seconds after the first: evenly spread over the ramp."""
        return self.ramp * number / users

    def thinker(self, number: int) -> Callable[[], float]:
        """User ``number``'s pause before an action, seconds (a random generator per user: the same pauses every
        run). The page stays live through it (``PageClient.idle``: messages taken in, pings answered)."""
        low, high = self.think
        chance = random.Random(number)
        return lambda: chance.uniform(low, high) if high > 0 else 0.0


@dataclass
class Tally:
    """What every user measured and did (appended from the users' threads)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)  # "action: what went wrong"
    warnings: Counter[str] = field(default_factory=Counter)
    nodes: list[tuple[int, float, float, str]] = field(default_factory=list)  # (pipeline, x, y, label) seen saved
    edges: list[tuple[int, float, float, str]] = field(default_factory=list)  # that node's edge, seen saved
    unanswered: list[tuple[str, int, float, float, str]] = field(default_factory=list)  # label/connect, no answer
    lock: threading.Lock = field(default_factory=threading.Lock)


def saved(message: str) -> bool:
    return '"text":"saved"' in message


def timed(
    tally: Tally,
    page: PageClient,
    action: str,
    send: Callable[[], object],
    done: Callable[[str], bool],
    *,
    think: Callable[[], float] = lambda: 0.0,
) -> bool:
    """Pause (``think``, not measured), send (a callable) and wait for ``done``; record the latency, or the error."""
    pause = think()
    if pause > 0:
        page.idle(pause)
    start = time.perf_counter()
    try:
        send()
        page.until(done, seconds=60)
    except Exception as exc:  # the bench reports every failure and goes on
        error(tally, action, kind_of(exc), f"(save status {status(page)!r}): {str(exc)[:200]}")
        return False
    with tally.lock:
        tally.latencies[action].append(time.perf_counter() - start)
    return True


def error(tally: Tally, action: str, kind: str, detail: str) -> None:
    with tally.lock:
        tally.kinds[f"{action}: {kind}"] += 1
        tally.errors.append(f"{action}: {detail}")


def kind_of(exc: Exception) -> str:
    """What went wrong, in a few words that group the errors (no ids, no numbers but HTTP statuses)."""
    text = str(exc)
    if "closed the page's socket" in text or "ConnectionClosed" in type(exc).__name__:
        return "socket closed"
    if "no awaited answer" in text or isinstance(exc, TimeoutError):
        return "no answer within 60 s"
    if match := re.match(r"^(\d{3})$", text.strip()):
        return f"page load HTTP {match.group(1)}"
    general = re.sub(r"[0-9a-f-]{8,}|\d+", "#", text)[:60]
    return f"{type(exc).__name__}: {general}"


def status(page: PageClient) -> str | None:
    """The page's save status as last sent ("saved", "saving…", "not saved"), or None."""
    texts = [element.get("text") for element in page.elements.values()]
    return next((t for t in texts if t in ("saved", "saving…", "not saved")), None)


def notices(tally: Tally, page: PageClient) -> None:
    """Count the notices the page was shown: red ones are errors, yellow ones warnings."""
    for message in page.received:
        if message.startswith('42["notify",'):
            notice = json.loads(message[2:])[1]
            text = f"{notice.get('type')}: {str(notice.get('message'))[:120]}"
            if notice.get("type") == "negative":
                error(tally, "notice", "red notice", text)
            elif notice.get("type") == "warning":
                with tally.lock:
                    tally.warnings[text.split(" of node ", maxsplit=1)[0]] += 1
    page.received.clear()


def open_page(page: PageClient) -> None:
    """Load the page, connect its socket, and mount the canvas (which asks for the graph)."""
    page.open()
    page.send("canvasReady")


def user(
    number: int,
    server: Replica,
    pipeline: int,
    tally: Tally,
    *,
    rounds: int,
    start: threading.Event,
    pace: Pace,
    users: int,
) -> None:
    """One simulated user: sign in, wait for the start (and its turn in the ramp), then ``rounds`` page sessions."""
    cookie = server.session(f"user{number:02d}")
    start.wait()
    time.sleep(pace.start_delay(number, users))
    think = pace.thinker(number)
    for round_ in range(rounds):
        page = PageClient(server, cookie, pipeline)
        try:
            x, y = 2000.0 + number * 300.0, 600.0 + round_ * 200.0
            one_round(page, tally, x=x, y=y, label=f"User {number} {round_}", think=think)
        finally:
            notices(tally, page)
            page.close()


def one_round(page: PageClient, tally: Tally, *, x: float, y: float, label: str, think: Callable[[], float]) -> None:
    """Open the page, add a node at (x, y), label it, connect it, save a version and export (``think`` before each)."""
    if not timed(tally, page, "open", lambda: open_page(page), lambda m: "loadGraph" in m, think=think):
        return
    drop = {"kind": KIND, "x": x, "y": y}

    def dropped(_: str) -> bool:
        # The node is drawn and the page says "saved". NiceGUI sends a cycle's element updates before its
        # canvas calls, so the status that arrived with (or after) the node's addNode is the one after the drop.
        return status(page) == "saved" and any((n["x"], n["y"]) == (x, y) for n in page.nodes.values())

    if not timed(tally, page, "drop", lambda: page.send("nodeDropped", drop), dropped, think=think):
        return
    mine = [i for i, n in page.nodes.items() if (n["x"], n["y"]) == (x, y)]
    if len(mine) != 1:
        error(tally, "drop", "not one node where dropped", f"the page shows {len(mine)} nodes where {label!r} was")
        return
    node = mine[0]
    form = '"data-field":"label"'
    if not timed(
        tally, page, "select", lambda: page.send("nodeClicked", {"id": node}), lambda m: form in m, think=think
    ):
        return
    field_id = page.element(**{"data-field": "label"})
    if not timed(tally, page, "label", lambda: page.send("update:value", label, element=field_id), saved, think=think):
        with tally.lock:  # did the label reach the draft all the same? (told apart at the end)
            tally.unanswered.append(("label", page.pipeline_id, x, y, label))
        return
    with tally.lock:
        tally.nodes.append((page.pipeline_id, x, y, label))
    node = next(i for i, n in page.nodes.items() if (n["x"], n["y"]) == (x, y))  # renamed by a merge?
    edge = {"source": node, "source_port": "output", "target": TARGET, "target_port": "upstream"}
    if not timed(tally, page, "connect", lambda: page.send("edgeRequested", edge), saved, think=think):
        with tally.lock:
            tally.unanswered.append(("connect", page.pipeline_id, x, y, label))
        return
    with tally.lock:
        tally.edges.append((page.pipeline_id, x, y, label))
    save = page.element(label="Save version")
    timed(
        tally,
        page,
        "save",
        lambda: page.send("click", element=save),
        lambda m: "version v" in m or "notify" in m,
        think=think,
    )
    export = page.element(label="Export")
    timed(
        tally, page, "export", lambda: page.send("click", element=export), lambda m: "nicegui-dialog" in m, think=think
    )


def lost_updates(database: str, tally: Tally) -> list[str]:
    """What users saw saved that the final drafts lack: their node (by position), its label, its edge. Also
    whether each label or connection that got no answer is in the final draft (printed, not counted as lost)."""
    store = open_store(database, local_user=False)
    lost = []
    try:
        pipelines = {pipeline for pipeline, *_ in tally.nodes} | {item[1] for item in tally.unanswered}
        drafts = {pipeline: store.get_draft(pipeline).pipeline() for pipeline in pipelines}
        for action, pipeline, x, y, label in tally.unanswered:
            document = drafts[pipeline]
            ids = {n.id for n in document.nodes if (n.position.x, n.position.y) == (x, y)}
            labels = [n.label for n in document.nodes if n.id in ids]
            edge = any(e.source in ids and e.target == TARGET for e in document.edges)
            held = labels == [label] if action == "label" else edge
            print(f"{action} of {label!r} got no answer; in the final draft: {held} (labels there: {labels})")
        for pipeline, x, y, label in tally.nodes:
            there = [n.label for n in drafts[pipeline].nodes if (n.position.x, n.position.y) == (x, y)]
            if there != [label]:
                lost.append(f"pipeline {pipeline}: the node {label!r} is missing (at its place: {there})")
        for pipeline, x, y, label in tally.edges:
            document = drafts[pipeline]
            ids = {n.id for n in document.nodes if (n.position.x, n.position.y) == (x, y)}
            if not any(e.source in ids and e.target == TARGET for e in document.edges):
                lost.append(f"pipeline {pipeline}: the edge from {label!r} is missing")
    finally:
        store.close()
    return lost


def populate(database: str, users: int) -> list[int]:
    store = open_store(database, local_user=False)
    try:
        accounts = Accounts(store)
        for number in range(users):
            accounts.add_user(f"user{number:02d}", PASSWORD)
        team = store.create_project("Team", by="user00")
        for number in range(1, users):
            store.add_member(team.id, f"user{number:02d}", Role.EDITOR, by="user00")
        pipelines = []
        for index in range((users + PER_PIPELINE - 1) // PER_PIPELINE):
            document = load_example("keyword_recommendation")
            document.settings.dag_id = f"keywords_{index}"
            pipelines.append(store.create_pipeline(team.id, document, by="user00").id)
        return pipelines
    finally:
        store.close()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", nargs="?", type=int, default=USERS, help=f"simulated users (default {USERS})")
    parser.add_argument("rounds", nargs="?", type=int, default=ROUNDS, help=f"page sessions per user ({ROUNDS})")
    parser.add_argument(
        "--think",
        type=seconds_range,
        metavar="MIN,MAX",
        help="a random pause of MIN to MAX seconds before each action (one number: that many; 0: none)",
    )
    parser.add_argument(
        "--ramp", type=float, metavar="SECONDS", help="start the users evenly over SECONDS (0: at once)"
    )
    parser.add_argument("--logs", type=Path, help="copy the replicas' server logs into this folder")
    options = parser.parse_args()
    if options.ramp is not None and options.ramp < 0:
        parser.error(f"--ramp {options.ramp:g}: give 0 or more seconds")
    return options


def seconds_range(text: str) -> tuple[float, float]:
    """``--think``'s value: ``MIN,MAX`` or one number, seconds, 0 <= MIN <= MAX."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX in seconds (e.g. 1,3) or one number") from None
    low, high = (values[0], values[0]) if len(values) == 1 else (values[0], values[-1])
    if len(values) > 2 or not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"{text!r}: give MIN,MAX with 0 <= MIN <= MAX seconds (e.g. 1,3)")
    return low, high


def paces(options: argparse.Namespace) -> list[Pace]:
    """What to measure: both paces (stampede, then paced) unless ``--think`` or ``--ramp`` names one."""
    if options.think is None and options.ramp is None:
        return [Pace(), Pace(PACED_THINK, PACED_RAMP)]
    return [Pace(options.think or (0.0, 0.0), options.ramp or 0.0)]


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> int:
    options = arguments()
    chosen = paces(options)
    for pace in chosen:
        logs = options.logs / str(pace).split(":")[0] if options.logs is not None and len(chosen) > 1 else options.logs
        measure(options.users, options.rounds, pace, logs)
    return 0


def measure(users: int, rounds: int, pace: Pace, logs: Path | None) -> None:
    """One run: fresh database and replicas, ``users`` users at ``pace``; prints the report."""
    print(f"== {pace}", flush=True)
    before = load()
    tally = Tally()
    with ExitStack() as stack:
        database = stack.enter_context(postgres(max_connections=200))
        pipelines = populate(database, users)
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dagsmith-load-")))
        servers = [stack.enter_context(replica(database, home / name)) for name in ("a", "b")]
        start = threading.Event()
        threads = [
            threading.Thread(
                target=user,
                args=(n, servers[n % 2], pipelines[n // PER_PIPELINE], tally),
                kwargs={"rounds": rounds, "start": start, "pace": pace, "users": users},
                name=f"user{n:02d}",
            )
            for n in range(users)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # every user signed in
        began = time.perf_counter()
        start.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        time.sleep(3.0)  # the last merges' saves
        lost = lost_updates(database, tally)
        problems = Counter(
            line.strip()[:160]
            for server in servers
            for line in server.log.read_text(errors="replace").splitlines()
            if any(word in line for word in ("ERROR", "Error", "WARNING", "refused", "Timeout"))
        )
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
            for name, server in zip(("a", "b"), servers, strict=True):
                shutil.copy(server.log, logs / f"replica-{name}.log")
    print("server log, the most frequent errors and warnings:")
    for line, count in problems.most_common(8):
        print(f"  {count} x {line}")
    report(users, rounds, elapsed, tally, lost, pace=pace)
    print("uptime before:", before)
    print("uptime after: ", load(), flush=True)


def report(users: int, rounds: int, elapsed: float, tally: Tally, lost: list[str], *, pace: Pace) -> None:
    every = sorted(t for times in tally.latencies.values() for t in times)
    print(
        f"{users} users x {rounds} rounds on 2 replicas + PostgreSQL ({pace}), {len(every)} actions in {elapsed:.1f} s"
    )
    print(f"{'action':<8} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for action, measured in [*tally.latencies.items(), ("all", every)]:
        if measured:
            times = sorted(measured)
            p50, p95 = statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]
            print(f"{action:<8} {len(times):>5} {p50 * 1000:>8.0f} {p95 * 1000:>8.0f} {times[-1] * 1000:>8.0f}")
    print(f"errors: {len(tally.errors)}, by kind:")
    for kind, count in tally.kinds.most_common():
        print(f"  {count} x {kind}")
    print("  first of them:")
    for text in tally.errors[:5]:
        print(f"    {text}")
    print(f"warnings shown to users: {sum(tally.warnings.values())}")
    for text, count in tally.warnings.most_common(5):
        print(f"  {count} x {text}")
    print(f"lost updates: {len(lost)} (of {len(tally.nodes)} labelled nodes and {len(tally.edges)} edges seen saved)")
    for text in lost[:8]:
        print(f"  {text}")


if __name__ == "__main__":
    sys.exit(main())
