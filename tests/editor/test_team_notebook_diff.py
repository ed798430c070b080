"""The review's file diffs: notebooks cell by cell (as nbdime shows them), other files by line; safe run files."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dagsmith.editor.team.notebook_diff import diff_file, render_text
from dagsmith.editor.team.review_content import content_hash, read_checkout, run_files, safe_relative
from dagsmith.nodes import load_example


def nb(*cells: tuple[str, str], metadata: dict[str, object] | None = None) -> bytes:
    """A notebook with ``(cell_type, source)`` cells; fixed ids so equal cells give equal bytes."""
    made = []
    for index, (kind, source) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.id = f"c{index}"
        made.append(cell)
    notebook = nbformat.v4.new_notebook(cells=made, metadata=metadata or {})
    return nbformat.writes(notebook).encode()


def test_added_removed_and_edited_cells_in_order() -> None:
    old = nb(("markdown", "# Title"), ("code", "a = 1"), ("code", "drop_me()"), ("code", "fit(a)"))
    new = nb(("markdown", "# Title"), ("code", "a = 2"), ("code", "fit(a)"), ("code", "save()"))
    diff = diff_file("train.ipynb", old, new)
    assert (diff.kind, diff.status) == ("notebook", "modified")
    assert [(c.change, c.old_index, c.new_index) for c in diff.cells] == [
        ("unchanged", 0, 0),
        ("modified", 1, 1),
        ("removed", 2, None),
        ("unchanged", 3, 2),
        ("added", None, 3),
    ]
    assert diff.cells[1].source_diff == ["@@ -1 +1 @@", "-a = 1", "+a = 2"]
    text = render_text(diff)
    assert "## removed code cell 2\n-drop_me()" in text and "## added code cell 3\n+save()" in text
    assert '"cell_type"' not in text and '"source"' not in text


def test_a_cell_that_changes_type_is_a_removal_and_an_addition() -> None:
    diff = diff_file("n.ipynb", nb(("code", "x")), nb(("markdown", "y")))
    assert [(c.change, c.cell_type) for c in diff.cells] == [("removed", "code"), ("added", "markdown")]


def test_metadata_and_ids_alone_are_no_change_to_the_reader() -> None:
    old = nb(("code", "x = 1"))
    new = nb(("code", "x = 1"), metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    assert old != new
    assert diff_file("n.ipynb", old, new).status == "unchanged"


def test_added_and_missing_files_and_a_broken_notebook() -> None:
    assert [c.change for c in diff_file("n.ipynb", None, nb(("code", "x"))).cells] == ["added"]
    assert diff_file("n.ipynb", None, None).status == "missing"
    broken = diff_file("n.ipynb", nb(("code", "x")), b"{not json")
    assert broken.status == "modified" and "not a Jupyter notebook that can be read" in broken.note


def test_a_script_is_diffed_by_line() -> None:
    diff = diff_file("train.py", b"a = 1\nb = 2\n", b"a = 1\nb = 3\n")
    assert (diff.kind, diff.status) == ("text", "modified")
    assert diff.lines[-2:] == ["-b = 2", "+b = 3"]


def test_run_files_are_the_notebooks_and_scripts_of_the_nodes() -> None:
    assert run_files(load_example("user_targeting")) == ["notebooks/train_targeting.ipynb"]
    assert run_files(load_example("keyword_recommendation")) == ["train_keyword.py"]


@pytest.mark.parametrize("path", ["../secret.py", "/etc/passwd", "a/../../secret.py", "C:/x.py"])
def test_a_path_outside_the_checkout_is_never_read(tmp_path: Path, path: str) -> None:
    checkout = tmp_path / "repo"
    checkout.mkdir()
    (tmp_path / "secret.py").write_text("password = 1")
    assert safe_relative(path) is None
    assert read_checkout(checkout, path) is None


def test_the_hash_covers_every_file_and_its_bytes() -> None:
    base = content_hash("doc", {"a.py": b"1", "b.ipynb": None})
    assert base == content_hash("doc", {"b.ipynb": None, "a.py": b"1"})  # order does not matter
    assert base != content_hash("doc", {"a.py": b"2", "b.ipynb": None})
    assert base != content_hash("doc", {"a.py": b"1", "b.ipynb": b""})  # an empty file is not a missing one
    assert base != content_hash("doc2", {"a.py": b"1", "b.ipynb": None})
