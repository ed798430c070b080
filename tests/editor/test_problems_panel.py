"""The problems panel draws only the rows that changed (issue 11, speed of "connect an edge").

Each connection that fixes an error changes the issues. The panel used to clear its list and build every
row again, so the page received every row again and mounted it again (the profile of the connect figure
showed the page's runtime Tailwind rescanning all of it). Now a row whose issue stays stays the same
element; rows go, come and move as the issues do, and the panel shows the same text as before.
"""

from __future__ import annotations

from nicegui import ui
from nicegui.testing.user import User

from dagsmith.editor.pages.problems import ProblemsPanel
from dagsmith.nodes import Code, Issue, Node, Pipeline, Severity


def issue(node: str | None, message: str, severity: Severity = Severity.ERROR) -> Issue:
    return Issue(severity=severity, code=Code.MISSING_PARAMETER, message=message, node=node, field="script")


PIPELINE = Pipeline(
    nodes=[Node(id=f"s{i}", type="script", label=f"Step {i}", params={"script": "a.py"}) for i in range(4)]
)
A, B, C, D = (issue(f"s{i}", f"problem {i}") for i in range(4))


async def open_panel(user: User) -> ProblemsPanel:
    panels: list[ProblemsPanel] = []

    @ui.page("/")
    def page() -> None:
        panels.append(ProblemsPanel(lambda _: None))

    await user.open("/")
    return panels[0]


def rows(panel: ProblemsPanel) -> list[ui.element]:
    return list(panel.list.default_slot.children)


def texts(panel: ProblemsPanel) -> list[str]:
    return [
        " / ".join(label.text for label in row.descendants() if isinstance(label, ui.item_label)) for row in rows(panel)
    ]


async def test_a_fixed_issue_removes_its_row_and_keeps_the_others(user: User) -> None:
    panel = await open_panel(user)
    panel.show([A, B, C], PIPELINE)
    assert texts(panel) == ["problem 0 / Step 0 · script", "problem 1 / Step 1 · script", "problem 2 / Step 2 · script"]
    first, _, third = rows(panel)

    panel.show([A, C], PIPELINE)  # a connection fixed B
    assert rows(panel) == [first, third], "the rows of the issues that stayed were drawn again"
    assert texts(panel) == ["problem 0 / Step 0 · script", "problem 2 / Step 2 · script"]
    assert panel.summary.text == "2 error(s), 0 warning(s)"


async def test_rows_come_and_move_with_the_issues(user: User) -> None:
    panel = await open_panel(user)
    panel.show([A, B], PIPELINE)
    first, second = rows(panel)
    warning = issue("s3", "problem 3", Severity.WARNING)

    panel.show([D, B, A, warning, warning], PIPELINE)  # new, moved, and one issue twice
    assert texts(panel) == [
        "problem 3 / Step 3 · script",
        "problem 1 / Step 1 · script",
        "problem 0 / Step 0 · script",
        "problem 3 / Step 3 · script",
        "problem 3 / Step 3 · script",
    ]
    assert rows(panel)[1:3] == [second, first]
    assert panel.summary.text == "3 error(s), 2 warning(s)"

    # A renamed node changes its rows' captions.
    renamed = PIPELINE.model_copy(deep=True)
    renamed.nodes[1].label = "Train"
    panel.show([B], renamed)
    assert texts(panel) == ["problem 1 / Train · script"]

    panel.show([], renamed)
    assert rows(panel) == [] and panel.summary.text == "No problems: ready to export"
