"""The review pages of the team server: the inbox of notifications, and one review with everything it covers.

``/reviews`` lists the signed-in user's notifications (a badge counts the unread ones) and the reviews
waiting. ``/review/{id}`` shows the review's state, the plain-language change list, the DAG diff, each
notebook cell by cell (as nbdime shows it: changed cells with their source diff, unchanged ones folded)
and other files line by line, the comments, a form to comment on the change, a node or a line, and the
Approve and Request changes buttons. The page holds no rules: ``ReviewService`` checks every action.
"""

from __future__ import annotations

from nicegui import ui

from ..errors import UserError
from .notebook_diff import CellDiff, FileDiff
from .review import ReviewService, ReviewView
from .services import TeamServices

STATE_COLORS = {"requested": "warning", "changes requested": "negative", "approved": "positive"}


def inbox_page(reviews: ReviewService) -> None:
    """The user's notifications, newest first, with the unread count and links to the reviews."""
    notes = reviews.notifications()
    unread = sum(not note.read for note in notes)
    with ui.row().classes("items-center q-pa-md"):
        ui.label("Reviews and notifications").classes("text-h5")
        ui.badge(str(unread), color="negative" if unread else "grey").mark("unread-count")
        ui.link("Back to the pipelines", "/")

    def read_all() -> None:
        reviews.mark_read()
        ui.navigate.reload()

    if unread:
        ui.button("Mark all read", on_click=read_all).props("flat").mark("read-all")
    with ui.column().classes("q-pa-md w-full").mark("notifications"):
        if not notes:
            ui.label("Nothing yet: requests, decisions and comments on your reviews appear here.")
        for note in notes:
            with ui.row().classes("items-center"):
                ui.icon("mark_email_unread" if not note.read else "drafts")
                text = f"{note.created_at:%Y-%m-%d %H:%M} {note.message}"
                if note.review_id is not None:
                    ui.link(text, f"/review/{note.review_id}").classes("" if note.read else "text-bold")
                else:
                    ui.label(text)


def _cell(cell: CellDiff) -> None:
    where = cell.new_index if cell.new_index is not None else cell.old_index
    with ui.card().classes("w-full").mark(f"cell-{cell.change}"):
        ui.label(f"{cell.change} {cell.cell_type} cell {where}").classes("text-caption")
        if cell.change == "modified":
            if cell.source_diff:
                ui.code("\n".join(cell.source_diff), language="diff").classes("w-full")
            if cell.outputs_changed:
                ui.label("outputs changed").classes("text-italic")
        else:
            sign = "+" if cell.change == "added" else "-"
            ui.code("\n".join(sign + line for line in cell.source.splitlines()), language="diff").classes("w-full")


def _file(diff: FileDiff) -> None:
    with (
        ui.expansion(f"{diff.path}: {diff.status}", value=diff.status != "unchanged")
        .classes("w-full")
        .mark("file-diff")
    ):
        if diff.note:
            ui.label(diff.note).classes("text-warning")
        if diff.kind == "text":
            if diff.lines:
                ui.code("\n".join(diff.lines), language="diff").classes("w-full")
            return
        folded = 0
        for cell in diff.cells:
            if cell.change == "unchanged":
                folded += 1
                continue
            if folded:
                ui.label(f"{folded} unchanged cell{'s' if folded > 1 else ''}").classes("text-grey")
                folded = 0
            _cell(cell)
        if folded:
            ui.label(f"{folded} unchanged cell{'s' if folded > 1 else ''}").classes("text-grey")


def _comments(view: ReviewView) -> None:
    with ui.column().classes("w-full").mark("comments"):
        for comment in view.comments:
            where = (
                f" on node {comment.node_id}"
                if comment.node_id
                else f" on {comment.file}:{comment.line}"
                if comment.file and comment.line
                else ""
            )
            ui.label(f"{comment.author}{where}: {comment.body}")


def review_page(reviews: ReviewService, review_id: int) -> None:
    """One review: state, changes, DAG diff, file diffs, comments and the decision buttons."""
    try:
        view = reviews.open(review_id)
    except UserError as exc:
        ui.label(str(exc)).classes("text-negative q-pa-md")
        ui.link("Back to the reviews", "/reviews")
        return
    content, review = view.content, view.review
    base = f"version {content.base_version}" if content.base_version else "nothing (a new pipeline)"
    with ui.column().classes("q-pa-md w-full"):
        with ui.row().classes("items-center"):
            ui.label(f"Review {review.id}: version {content.version} against {base}").classes("text-h5")
            ui.badge(view.state, color=STATE_COLORS[view.state]).mark("review-state")
            ui.link("Reviews", "/reviews")
            ui.link("Open the pipeline", f"/pipeline/{view.pipeline_id}")
        ui.label(
            f"requested by {review.requested_by}"
            + (f", {view.state} by {review.decided_by}" if review.decided_by else "")
        )
        if review.comment:
            ui.label(review.comment).classes("text-italic")
        if not view.current:
            ui.label(
                "The pipeline or a file it runs changed since this review was requested: an approval would not "
                "cover it. Ask the author to request a new review."
            ).classes("text-negative").mark("stale")
        ui.label("What changed").classes("text-h6")
        with ui.column().mark("changes"):
            for line in content.changes or ["nothing the DAG depends on"]:
                ui.label(f"• {line}")
        ui.label("DAG file").classes("text-h6")
        ui.code(content.dag_diff or "(no change)", language="diff").classes("w-full").mark("dag-diff")
        ui.label("Notebooks and scripts it runs").classes("text-h6")
        if not content.files:
            ui.label("It runs no notebook or script file.")
        for diff in content.files:
            _file(diff)
        ui.label("Comments").classes("text-h6")
        _comments(view)
        _decision_form(reviews, view)


def _decision_form(reviews: ReviewService, view: ReviewView) -> None:
    content = view.content
    nodes = {
        node_id: node_id
        for node_id in sorted(reviews.store.get_version(view.pipeline_id, content.version).pipeline().node_map())
    }
    files = [diff.path for diff in content.files]
    text = ui.textarea("Comment").classes("w-full").mark("comment-text")
    with ui.row().classes("items-center"):
        node = ui.select({"": "(the whole change)", **nodes}, value="", label="On node").mark("comment-node")
        file = ui.select({"": "(no file)", **{f: f for f in files}}, value="", label="On file").mark("comment-file")
        line = ui.number("Line", min=1, step=1, format="%d").mark("comment-line")

    def act(action: str) -> None:
        try:
            if action == "comment":
                reviews.comment(
                    view.review.id,
                    text.value or "",
                    node_id=node.value or None,
                    file=file.value or None,
                    line=int(line.value) if line.value else None,
                )
            elif action == "approve":
                reviews.approve(view.review.id, content_hash=content.content_hash, comment=text.value or "")
            else:
                reviews.request_changes(view.review.id, comment=text.value or "")
        except UserError as exc:
            ui.notify(str(exc), type="warning", multi_line=True)
            return
        ui.navigate.reload()

    with ui.row():
        ui.button("Comment", on_click=lambda: act("comment")).mark("comment")
        ui.button("Approve", color="positive", on_click=lambda: act("approve")).mark("approve")
        ui.button("Request changes", color="negative", on_click=lambda: act("changes")).mark("request-changes")


def register_review_pages(services: TeamServices) -> None:
    """Declare ``/reviews`` and ``/review/{id}`` on NiceGUI's app (the team server's sign-in guards them)."""
    reviews = ReviewService(services)

    @ui.page("/reviews", title="dagsmith reviews")
    def inbox() -> None:
        inbox_page(reviews)

    @ui.page("/review/{review_id}", title="dagsmith review")
    def review(review_id: int) -> None:
        review_page(reviews, review_id)
