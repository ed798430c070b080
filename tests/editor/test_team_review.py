"""Four-eyes review before production: protected targets, approvals bound to content, the export log.

Service-level tests on a real store (SQLite in tmp_path) and a real git repository: alice owns project
Team and writes the pipeline, bob is its reviewer (maintainer), ed an editor, eve belongs only to
project Other. The pipeline (user_targeting) runs ``notebooks/train_targeting.ipynb``, committed on
``main`` and then changed in the checkout. ``test_team_review_http.py`` drives the same rules over HTTP.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa
from alembic import command
from test_store_postgres import postgres_url  # noqa: F401 (the fixture, started only by the PostgreSQL test)

from dagsmith.editor.errors import UserError
from dagsmith.editor.store import Role, Store, alembic_config, open_store
from dagsmith.editor.store.engine import make_engine
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.notebook_diff import render_text
from dagsmith.editor.team.review import ApprovalRequired, ReviewService
from dagsmith.editor.team.services import NoAccessError, RoleError, TeamServices
from dagsmith.nodes import Pipeline, load_example

NOTEBOOK = "notebooks/train_targeting.ipynb"


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (a fixed identity, no user config)."""
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    done = subprocess.run(["git", *identity, *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def notebook(*sources: str, output: str | None = None) -> str:
    """A notebook's JSON with one code cell per source (the last one with ``output`` when given)."""
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    if output is not None:
        cells[-1].outputs = [nbformat.v4.new_output("stream", text=output)]
    cells.insert(0, nbformat.v4.new_markdown_cell("# Train the targeting model"))
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells))


@dataclass
class Team:
    """The store, the services as each user sees them, and the ids the tests use."""

    store: Store
    reviews: ReviewService
    repo: Path
    project: int
    pipeline: int
    other_pipeline: int

    def as_(self, name: str) -> AbstractContextManager[None]:
        """Act as ``name`` for the block."""
        return acting_as(Identity(name, False))

    def write_notebook(self, *sources: str) -> None:
        """Change the notebook in the project's checkout (not committed)."""
        (self.repo / NOTEBOOK).write_text(notebook(*sources))

    def edit(self, name: str, change: str) -> Pipeline:
        """Change the train node's kernel in the draft as ``name``; the new document."""
        with self.as_(name):
            _, pipeline, _ = self.reviews.services.open_draft(self.pipeline)
            changed = pipeline.model_copy(deep=True)
            changed.node_map()["train"].params["kernel"] = change
            self.reviews.services.save_draft(self.pipeline, changed)
            return changed


def build_team(url: str, root: Path) -> Team:
    """The project, its repository (``root/repo``), users and pipelines in the store at ``url``."""
    repo = root / "repo"
    (repo / "notebooks").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / NOTEBOOK).write_text(notebook("x = 1", "model = fit(x)", output="ok\n"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "notebook")
    store = open_store(url, local_user=False)
    for name in ("alice", "bob", "ed", "eve"):
        store.create_user(name)
    project = store.create_project("Team", by="alice", git_repo=str(repo), git_branch="main")
    store.add_member(project.id, "bob", Role.MAINTAINER, by="alice")
    store.add_member(project.id, "ed", Role.EDITOR, by="alice")
    other = store.create_project("Other", by="eve")
    pipeline = store.create_pipeline(project.id, load_example("user_targeting"), by="alice")
    other_pipeline = store.create_pipeline(other.id, load_example("keyword_monitor"), by="eve")
    services = TeamServices(store)
    reviews = ReviewService(services)
    services.export_gate = reviews.gate  # as review_api.register_reviews installs it on the server
    made = Team(store, reviews, repo, project.id, pipeline.id, other_pipeline.id)
    with made.as_("alice"):
        reviews.protect(project.id, "branch", "main")
    made.write_notebook("x = 2", "model = fit(x)")  # the change under review: one cell edited
    return made


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    made = build_team(f"sqlite:///{tmp_path / 'team.db'}", tmp_path)
    yield made
    made.store.close()


def requested(team: Team, author: str = "alice") -> int:
    """Save a version of the draft as ``author`` and request its review; the review's id."""
    with team.as_(author):
        _, pipeline, _ = team.reviews.services.open_draft(team.pipeline)
        team.reviews.services.save_version(team.pipeline, pipeline, "v")
        return team.reviews.request(team.pipeline).id


def approved(team: Team, review_id: int, reviewer: str = "bob") -> None:
    """Open the review as ``reviewer`` and approve what it shows."""
    with team.as_(reviewer):
        seen = team.reviews.open(review_id).content.content_hash
        team.reviews.approve(review_id, content_hash=seen)


def commit(team: Team, name: str = "bob") -> tuple[int, str | None]:
    """Commit the draft's DAG to the project's branch as ``name``; the version and the commit."""
    with team.as_(name):
        _, pipeline, _ = team.reviews.services.open_draft(team.pipeline)
        number, result = team.reviews.services.export_to_project_git(team.pipeline, pipeline, message="ship")
        return number, result.commit


# -- the rules ---------------------------------------------------------------------------------------------
def test_the_author_cannot_approve_their_own_change(team: Team) -> None:
    review = requested(team, author="alice")  # alice is an owner: her role may review, the rule forbids it
    with team.as_("alice"), pytest.raises(RoleError, match=r"four-eyes rule: 'alice' created version 1"):
        team.reviews.approve(review, content_hash=team.reviews.open(review).content.content_hash)
    with team.as_("bob"):
        assert team.reviews.open(review).state == "requested"


def test_a_member_without_the_reviewer_role_cannot_approve(team: Team) -> None:
    review = requested(team)
    with team.as_("ed"):
        seen = team.reviews.open(review).content.content_hash
        with pytest.raises(RoleError, match=r"'ed' is an editor of project 'Team' and cannot review its versions"):
            team.reviews.approve(review, content_hash=seen)
    with team.as_("eve"), pytest.raises(NoAccessError, match="does not exist or you have no access"):
        team.reviews.open(review)  # a stranger learns nothing about it


def test_a_protected_branch_refuses_an_export_without_approval(team: Team) -> None:
    head = git(team.repo, "rev-parse", "main")
    with pytest.raises(ApprovalRequired, match=r"branch 'main' of project 'Team' is protected"):
        commit(team)
    assert git(team.repo, "rev-parse", "main") == head  # nothing was committed
    requested(team)
    with pytest.raises(ApprovalRequired):  # requested is not approved
        commit(team)
    with team.as_("alice"):
        team.reviews.unprotect(team.project, "branch", "main")
    number, made = commit(team)  # unprotected: no approval needed, none recorded
    with team.as_("alice"):
        log = team.reviews.export_log(team.pipeline)
    assert [(row.version, row.export.review_id, row.export.git_commit) for row in log] == [(number, None, made)]


def test_an_approved_export_is_logged_with_its_review_and_commit(team: Team) -> None:
    review = requested(team)
    approved(team, review)
    number, made = commit(team, "bob")
    assert made is not None and git(team.repo, "rev-parse", "main") == made
    with team.as_("ed"):
        log = team.reviews.export_log(team.pipeline)
    assert len(log) == 1
    row = log[0]
    assert (row.version, row.export.exported_by, row.export.review_id, row.export.git_commit) == (
        number,
        "bob",
        review,
        made,
    )
    assert (row.export.branch, row.export.dag_path) == ("main", "dags/user_targeting.py")


def test_a_change_to_a_notebook_after_approval_voids_it(team: Team) -> None:
    review = requested(team)
    approved(team, review)
    seen = (team.repo / NOTEBOOK).read_bytes()
    team.write_notebook("x = 3", "model = fit(x)")  # after the approval
    with pytest.raises(ApprovalRequired, match="needs an approval of exactly this content"):
        commit(team)
    with team.as_("bob"):
        view = team.reviews.open(review)
    assert view.state == "approved" and not view.current  # the page says the approval is stale
    (team.repo / NOTEBOOK).write_bytes(seen)  # back to exactly what was approved: the approval holds again
    commit(team)


def test_a_change_to_the_pipeline_after_approval_voids_it(team: Team) -> None:
    review = requested(team)
    approved(team, review)
    team.edit("alice", "python3-gpu")
    with pytest.raises(ApprovalRequired, match="version 2"):
        commit(team)  # the changed document is version 2, which nobody approved


def test_approving_content_other_than_what_was_opened_is_refused(team: Team) -> None:
    review = requested(team)
    with team.as_("bob"):
        seen = team.reviews.open(review).content.content_hash
    team.write_notebook("x = 99", "model = fit(x)")  # changed while bob was reading
    with team.as_("bob"), pytest.raises(UserError, match="no longer shows the current content"):
        team.reviews.approve(review, content_hash=seen)
    with team.as_("bob"):
        assert team.reviews.open(review).state == "requested"


def test_changes_requested_then_a_new_review_of_the_changed_content(team: Team) -> None:
    review = requested(team)
    with team.as_("ed"), pytest.raises(RoleError):
        team.reviews.request_changes(review, comment="no")
    with team.as_("bob"):
        team.reviews.request_changes(review, comment="use the full data set")
        assert team.reviews.open(review).state == "changes requested"
    team.write_notebook("x = load_all()", "model = fit(x)")
    with team.as_("alice"):
        again = team.reviews.request(team.pipeline).id
        assert [r.id for _, r in team.reviews.reviews(team.pipeline)] == [again, review]
    approved(team, again)
    commit(team)


# -- what the reviewer opens ---------------------------------------------------------------------------------
def test_the_review_shows_the_dag_diff_the_change_list_and_the_notebook_cell_by_cell(team: Team) -> None:
    with team.as_("alice"):
        _, pipeline, _ = team.reviews.services.open_draft(team.pipeline)
        team.reviews.services.save_version(team.pipeline, pipeline, "first")
    team.edit("alice", "python3-gpu")
    review = requested(team)
    with team.as_("bob"):
        view = team.reviews.open(review)
    content = view.content
    assert (content.version, content.base_version) == (2, 1)
    assert any("python3-gpu" in line and "Kernel" in line for line in content.changes), content.changes
    assert "+" in content.dag_diff and "v1/user_targeting.py" in content.dag_diff
    (nb,) = content.files
    assert (nb.path, nb.kind, nb.status) == (NOTEBOOK, "notebook", "modified")
    assert [(cell.change, cell.cell_type) for cell in nb.cells] == [
        ("unchanged", "markdown"),
        ("modified", "code"),  # its source
        ("modified", "code"),  # its output: the committed notebook was run, the checkout's was not
    ]
    edited, rerun = nb.cells[1:]
    assert (edited.source_diff, edited.outputs_changed) == (["@@ -1 +1 @@", "-x = 1", "+x = 2"], False)
    assert (rerun.source_diff, rerun.outputs_changed) == ([], True)
    text = render_text(nb)  # cells, not raw JSON
    assert "## modified code cell 1" in text and '"cell_type"' not in text


def test_comments_on_nodes_and_lines_and_notifications(team: Team) -> None:
    review = requested(team, author="alice")
    with team.as_("bob"):
        (note,) = team.reviews.notifications(unread_only=True)
        assert note.review_id == review and "alice asks you to review version 1" in note.message
        team.reviews.comment(review, "why a new kernel?", node_id="train")
        team.reviews.comment(review, "x = 2 looks arbitrary", file=NOTEBOOK, line=3)
        with pytest.raises(UserError, match="has no node 'trian'"):
            team.reviews.comment(review, "typo", node_id="trian")
        assert team.reviews.mark_read() == 1
        assert team.reviews.notifications(unread_only=True) == []
    with team.as_("alice"):
        messages = [n.message for n in team.reviews.notifications(unread_only=True)]
        assert messages == [
            f"bob commented on {NOTEBOOK}:3 on the review of version 1",
            "bob commented on node 'train' on the review of version 1",
        ]
        comments = team.reviews.open(review).comments
    assert [(c.author, c.node_id, c.file, c.line) for c in comments] == [
        ("bob", "train", None, None),
        ("bob", None, NOTEBOOK, 3),
    ]
    approved(team, review)
    with team.as_("alice"):
        assert team.reviews.notifications(unread_only=True)[0].message == "bob approved version 1"


def test_only_owners_protect_targets_and_members_see_them(team: Team) -> None:
    with team.as_("bob"), pytest.raises(RoleError, match="manage"):
        team.reviews.protect(team.project, "deployment", "prod")
    with team.as_("alice"):
        team.reviews.protect(team.project, "deployment", "prod")
        with pytest.raises(UserError, match="protected already"):
            team.reviews.protect(team.project, "branch", "main")
    with team.as_("ed"):
        assert [(t.kind, t.name) for t in team.reviews.protected(team.project)] == [
            ("branch", "main"),
            ("deployment", "prod"),
        ]
    with team.as_("eve"), pytest.raises(NoAccessError):
        team.reviews.protected(team.project)


def test_a_protected_deployment_needs_the_approval_too(team: Team) -> None:
    with team.as_("alice"):
        team.reviews.unprotect(team.project, "branch", "main")
        team.reviews.protect(team.project, "deployment", "prod")
    review = requested(team)
    assert team.reviews.gate(team.pipeline, 1, branch="main") is None  # main is no longer protected
    with pytest.raises(ApprovalRequired, match="deployment 'prod'"):
        team.reviews.gate(team.pipeline, 1, branch="main", deployment="prod")
    approved(team, review)
    assert team.reviews.gate(team.pipeline, 1, branch="main", deployment="prod") == review


# -- the migration -----------------------------------------------------------------------------------------
def test_migration_0004_down_and_up_keeps_reviews_and_exports(team: Team) -> None:
    review = requested(team)
    approved(team, review)
    number, made = commit(team)
    with team.as_("bob"):
        team.reviews.comment(review, "shipped")
    url = team.store.engine.url.render_as_string(hide_password=False)
    team.store.close()
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    tables = set(sa.inspect(engine).get_table_names())
    assert not tables & {"protected_target", "review_comment", "notification"}
    assert "review_id" not in {c["name"] for c in sa.inspect(engine).get_columns("export")}
    engine.dispose()
    with open_store(url, local_user=False) as store:  # upgrades to 0004 again
        (export,) = store.list_exports(team.pipeline, number)
        assert (export.git_commit, export.review_id, export.exported_by) == (made, None, "bob")
        assert [r.status.value for r in store.list_reviews(team.pipeline, number)] == ["approved"]
        assert store.protected_targets(team.project) == []


@pytest.mark.slow
def test_the_rules_hold_on_postgresql(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    team = build_team(postgres_url, tmp_path)
    try:
        assert team.store.engine.dialect.name == "postgresql"
        review = requested(team)
        with team.as_("alice"), pytest.raises(RoleError, match="four-eyes"):
            team.reviews.approve(review, content_hash=team.reviews.open(review).content.content_hash)
        with pytest.raises(ApprovalRequired):
            commit(team)
        approved(team, review)
        number, made = commit(team)
        with team.as_("bob"):
            (row,) = team.reviews.export_log(team.pipeline)
        assert (row.version, row.export.review_id, row.export.git_commit) == (number, review, made)
        team.write_notebook("x = 5", "model = fit(x)")
        with pytest.raises(ApprovalRequired):
            commit(team)
    finally:
        team.store.close()
