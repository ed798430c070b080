"""Two ``dagsmith serve`` replicas on one real PostgreSQL database, as behind a load balancer.

Users drive the pipeline page over socket.io's websocket exactly as NiceGUI's client does (``PageClient``).
An edit made through replica A is on replica B, in its REST API and in the page it serves. Edits made at
the same time through both replicas are detected: the replica whose save was overtaken is refused by the
store (the draft's revision moved), merges the other replica's change into its page, tells its user of any
field both changed, and saves again; nothing either user did is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from browser import wait_for
from team_servers import PASSWORD, PageClient, Replica, postgres, replica

from dagsmith.editor.merge import keep_both_added, merge
from dagsmith.editor.store import Role, open_store
from dagsmith.editor.store.notify import CHANNEL
from dagsmith.editor.team.accounts import Accounts
from dagsmith.editor.team.replica_sync import APPLICATION_NAME
from dagsmith.nodes import Edge, Node, Pipeline, Position, load_example
from dagsmith.nodes.fileformat import from_dict, to_dict

KIND = "script"


@dataclass
class Cluster:
    """The database, its two replicas and a signed-in editor on each."""

    database: str
    a: Replica
    b: Replica
    alice: str  # alice's session cookie on replica A
    bob: str  # bob's session cookie on replica B

    def new_pipeline(self) -> int:
        """A fresh pipeline of project Team (each test edits its own)."""
        store = open_store(self.database, local_user=False)
        try:
            project = next(p for p in store.list_projects() if p.name == "Team")
            document = load_example("keyword_recommendation")
            document.settings.dag_id = f"keywords_{len(store.list_pipelines(project.id)) + 1}"
            return store.create_pipeline(project.id, document, by="alice").id
        finally:
            store.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with ExitStack() as stack:
        database = stack.enter_context(postgres())
        store = open_store(database, local_user=False)
        try:
            accounts = Accounts(store)
            for name in ("alice", "bob"):
                accounts.add_user(name, PASSWORD)
            team = store.create_project("Team", by="alice")
            store.add_member(team.id, "bob", Role.EDITOR, by="alice")
        finally:
            store.close()
        home = tmp_path_factory.mktemp("replicas")
        a = stack.enter_context(replica(database, home / "a"))
        b = stack.enter_context(replica(database, home / "b"))
        yield Cluster(database, a, b, a.session("alice"), b.session("bob"))


def field_element(page: PageClient, name: str) -> int:
    """The element id of the settings form's field ``name`` (its ``data-field``), opening the closed sections
    around it as a user does (a closed section's fields are built when it is first opened)."""

    def found() -> int | None:
        ids = [i for i, e in page.elements.items() if e.get("props", {}).get("data-field") == name]
        return int(ids[0]) if ids else None

    parts = name.split(".")
    for end in range(1, len(parts)):
        if found() is not None:
            break
        section, inner = ".".join(parts[:end]), ".".join(parts[: end + 1])  # inner: the next section, or the field
        for element_id, element in list(page.elements.items()):
            if element.get("props", {}).get("data-section") == section and not element["props"].get("model-value"):
                page.send("update:modelValue", True, element=int(element_id))
                page.until(
                    lambda _, inner=inner: (
                        found() is not None
                        or any(e.get("props", {}).get("data-section") == inner for e in page.elements.values())
                    )
                )
    element_id = found()
    if element_id is None:
        raise AssertionError(f"the page has no field {name}")
    return element_id


def type_into(page: PageClient, name: str, text: str) -> None:
    """Type ``text`` into a text field of the settings form; returns once the page says the draft is saved."""
    page.send("update:value", text, element=field_element(page, name))
    page.until(saved)


def drop_node(page: PageClient, x: float) -> None:
    """Drop a node from the palette on the canvas at ``x``; returns once the page says the draft is saved."""
    page.send("nodeDropped", {"kind": KIND, "x": x, "y": 400.0})
    page.until(saved)


def node_at(document: dict[str, Any], x: float) -> str:
    """The id of the node whose left edge is at ``x``."""
    found = [n["id"] for n in document["nodes"] if n["position"]["x"] == x]
    assert len(found) == 1, (x, found)
    return str(found[0])


def saved(message: str) -> bool:
    """The page's save status reads "saved" (the draft is in the database)."""
    return '"text":"saved"' in message


def field_value(page: PageClient, name: str) -> Any:
    """A text field's value as the page was served."""
    return page.elements[str(field_element(page, name))]["props"]["value"]


@pytest.mark.slow
def test_an_edit_through_one_replica_is_seen_through_the_other(cluster: Cluster) -> None:
    pipeline = cluster.new_pipeline()
    revision, _ = cluster.b.draft(pipeline, cluster.bob)
    with PageClient(cluster.a, cluster.alice, pipeline) as alice:
        type_into(alice, "description", "Retrained nightly; edited on replica A.")
        drop_node(alice, 900.0)
    # Replica B's REST API has the new revision and both changes:
    now, document = cluster.b.draft(pipeline, cluster.bob)
    assert now == revision + 2
    assert document["settings"]["description"] == "Retrained nightly; edited on replica A."
    node = node_at(document, 900.0)
    # And the page replica B serves shows them: the form's field, and the node on the canvas.
    with PageClient(cluster.b, cluster.bob, pipeline) as bob:
        assert field_value(bob, "description") == "Retrained nightly; edited on replica A."
        assert node in bob.graph()["nodes"]


@pytest.mark.slow
def test_edits_at_once_through_both_replicas_are_merged_and_none_is_lost(cluster: Cluster) -> None:
    pipeline = cluster.new_pipeline()
    revision, _ = cluster.a.draft(pipeline, cluster.alice)
    with PageClient(cluster.a, cluster.alice, pipeline) as alice, PageClient(cluster.b, cluster.bob, pipeline) as bob:
        # Both pages loaded the same revision. Alice saves first; Bob's page still holds the old revision, so
        # its save is refused by the store (not written over Alice's), merged with hers, and saved again.
        type_into(alice, "description", "Alice's description")
        bob.send("update:value", "http://mlflow.bob:5000", element=field_element(bob, "mlflow.tracking_uri"))
        shown = bob.until(lambda message: "Alice's description" in message)  # merged into Bob's form, live
        assert shown
        bob.until(saved)
        final, document = cluster.a.draft(pipeline, cluster.alice)
        assert document["settings"]["description"] == "Alice's description"
        assert document["settings"]["mlflow"]["tracking_uri"] == "http://mlflow.bob:5000"
        # Alice's save, Bob's refused one (no revision), Bob's merged save:
        assert final == revision + 2

        # Both change the same field: the later save is refused, and its user is told that their text
        # is kept over the other's (never a silent overwrite).
        type_into(alice, "mlflow.tracking_uri", "http://mlflow.alice:5000")
        bob.send("update:value", "http://mlflow.bob2:5000", element=field_element(bob, "mlflow.tracking_uri"))
        told = bob.until(lambda message: "also changed in another tab or window" in message)
        assert "Tracking" in told[-1] or "tracking_uri" in told[-1], told[-1]
        bob.until(saved)
    _, document = cluster.b.draft(pipeline, cluster.bob)
    assert document["settings"]["mlflow"]["tracking_uri"] == "http://mlflow.bob2:5000"
    assert document["settings"]["description"] == "Alice's description"


@pytest.mark.slow
def test_nodes_added_at_once_through_both_replicas_are_all_kept(cluster: Cluster) -> None:
    """Both users drop a node of the same kind at the same moment: each page names it ``script_1``. The
    merge must keep both nodes (the later one renamed), not fold them into one."""
    pipeline = cluster.new_pipeline()
    _, before = cluster.a.draft(pipeline, cluster.alice)
    with PageClient(cluster.a, cluster.alice, pipeline) as alice, PageClient(cluster.b, cluster.bob, pipeline) as bob:
        drop_node(alice, 900.0)
        drop_node(bob, 1200.0)
        # Bob's form still shows his own node (now script_2, not Alice's script_1): his typing lands there.
        type_into(bob, "label", "Bob's step")
        _, document = cluster.a.draft(pipeline, cluster.alice)
        graph = bob.graph()
    added = [n for n in document["nodes"] if n["id"] not in {m["id"] for m in before["nodes"]}]
    assert sorted((n["position"]["x"], n["label"]) for n in added) == [(900.0, "Script"), (1200.0, "Bob's step")]
    assert len({n["id"] for n in added}) == 2
    assert {n["id"] for n in added} <= set(graph["nodes"])  # Bob's canvas shows Alice's node and his own


def connect_db(database: str) -> psycopg.Connection[Any]:
    """A psycopg connection (autocommit) to the cluster's database."""
    return psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def listeners(database: str) -> set[int]:
    """The backend pids of the replicas' listening connections."""
    with connect_db(database) as connection:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        return {int(row[0]) for row in connection.execute(query, (APPLICATION_NAME,))}


def values_sent(page: PageClient, name: str, since: int = 0) -> set[Any]:
    """Every value the server sent to the page for its form field ``name``, in the messages from ``since`` on."""
    element = str(field_element(page, name))
    return {
        update[element]["props"].get("value")
        for message in page.received[since:]
        if message.startswith('42["update",') and (update := json.loads(message[2:])[1]).get(element)
    }


@pytest.mark.slow
def test_an_edit_on_one_replica_appears_live_on_the_other_replicas_open_page(cluster: Cluster) -> None:
    """Bob's page on replica B shows Alice's edit on replica A without Bob doing anything; while Bob types in
    another field, his text stays; the database's notices between the replicas carry ids, not content."""
    pipeline = cluster.new_pipeline()
    with connect_db(cluster.database) as watcher:
        watcher.execute(f"LISTEN {CHANNEL}")
        with (
            PageClient(cluster.b, cluster.bob, pipeline) as bob,
            PageClient(cluster.a, cluster.alice, pipeline) as alice,
        ):
            bob.focus = "mlflow.tracking_uri"  # Bob's caret stays in this field
            # Bob opens the MLflow section: its fields are drawn then (an update carrying the saved value, empty).
            field_element(bob, "mlflow.tracking_uri")
            opened = len(bob.received)
            type_into(bob, "mlflow.tracking_uri", "http://mlflow.bob:5000")
            type_into(alice, "description", "Pushed from replica A")
            bob.until(lambda message: "Pushed from replica A" in message)  # Bob's page was idle: it was told
            assert field_value(bob, "description") == "Pushed from replica A"
            # Both type at once: Bob's keystroke is on its way while Alice's change reaches his page.
            bob.send("update:value", "http://mlflow.bob:5001", element=field_element(bob, "mlflow.tracking_uri"))
            type_into(alice, "description", "Second push from replica A")
            bob.until(lambda message: "Second push from replica A" in message)

            def both_saved() -> bool:
                settings = cluster.a.draft(pipeline, cluster.alice)[1]["settings"]
                return bool(
                    settings["description"] == "Second push from replica A"
                    and settings["mlflow"]["tracking_uri"] == "http://mlflow.bob:5001"
                )

            wait_for(both_saved, "both users' edits in the draft", timeout=60, interval=0.2)
            # Bob's field was never given another value than his own.
            assert values_sent(bob, "mlflow.tracking_uri", since=opened) <= {
                "http://mlflow.bob:5000",
                "http://mlflow.bob:5001",
            }
        payloads = [notice.payload for notice in watcher.notifies(timeout=1.0)]
    notices = [json.loads(payload) for payload in payloads]
    assert notices and all(set(notice) == {"project", "pipeline", "revision", "origin"} for notice in notices)
    assert {notice["pipeline"] for notice in notices} == {pipeline}
    assert len({notice["origin"] for notice in notices}) == 2  # both replicas saved and told
    assert not any("mlflow" in payload or "push" in payload.lower() for payload in payloads)


@pytest.mark.slow
def test_the_replicas_listen_again_after_their_database_connections_were_cut(cluster: Cluster) -> None:
    pipeline = cluster.new_pipeline()

    def two_listeners() -> set[int]:
        found = listeners(cluster.database)
        return found if len(found) == 2 else set()

    cut = wait_for(two_listeners, "both replicas listening", timeout=60, interval=0.2)
    with connect_db(cluster.database) as admin:
        query = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s"
        admin.execute(query, (APPLICATION_NAME,))

    def listening_again() -> bool:
        found = listeners(cluster.database)
        return len(found) == 2 and not found & cut

    wait_for(listening_again, "both replicas listening on new connections", timeout=60, interval=0.2)
    with PageClient(cluster.b, cluster.bob, pipeline) as bob, PageClient(cluster.a, cluster.alice, pipeline) as alice:
        type_into(alice, "description", "After the cut")
        bob.until(lambda message: "After the cut" in message)


def added(pipeline: Pipeline, x: float, target: str) -> dict[str, Any]:
    """``pipeline`` plus what one editor's page adds: node ``script_1`` at ``x``, connected by ``e6``."""
    node = Node(id="script_1", type=KIND, label="Script", position=Position(x=x, y=400.0))
    edge = Edge(id="e6", source="script_1", source_port="output", target=target, target_port="upstream")
    return to_dict(pipeline.model_copy(update={"nodes": [*pipeline.nodes, node], "edges": [*pipeline.edges, edge]}))


def test_what_two_pages_added_under_the_same_ids_is_all_kept() -> None:
    """The merge a page does when its save was overtaken, on two documents that each added node
    ``script_1`` and edge ``e6``: both nodes and both edges stay, under ids and task ids of their own."""
    base = load_example("keyword_recommendation")
    mine, theirs = added(base, 1200.0, "register"), added(base, 900.0, "gate")
    folded = merge(to_dict(base), mine, theirs).document
    assert len(folded["nodes"]) == len(base.nodes) + 1  # without the renaming: one node is lost
    kept, renamed = keep_both_added(to_dict(base), mine, theirs)
    assert renamed == {"script_1": "script_2"}
    document = merge(to_dict(base), kept, theirs).document
    merged = from_dict(document)
    new = [n for n in merged.nodes if n.type == KIND and n.position.y == 400.0]
    assert sorted((n.position.x, n.id, n.label) for n in new) == [
        (900.0, "script_1", "Script"),
        (1200.0, "script_2", "Script 2"),
    ]
    links = {(e.source, e.target) for e in merged.edges if e.source.startswith("script")}
    assert links == {("script_1", "gate"), ("script_2", "register")}
    assert len({e.id for e in merged.edges}) == len(merged.edges) == len(base.edges) + 2
    assert len({n.task_id() for n in merged.nodes}) == len(merged.nodes)
    # The same addition on both sides (the page's own save read back) is one node, not two:
    assert keep_both_added(to_dict(base), mine, mine) == (mine, {})
