"""Issue 13: "the reviewer has opened the change" before approving, over the review API.

An approval names the hash of the content it approves (``POST /reviews/{id}/approve``), and the API tells a
reviewer that hash only with the opened review (``GET /reviews/{id}``: the DAG diff, the change list and
every notebook's and script's diff). A review as listed, requested or decided carries no hash, so a reviewer
cannot approve from the list without opening the change. The opening is also recorded, and an approval needs
the approver's own: ``test_team_review_openings``.

The API server is ``test_team_review_http``'s (a real uvicorn on loopback, API tokens, a real repository).
"""

from __future__ import annotations

from test_team_review_http import Server, server  # noqa: F401 (the fixture)


def test_only_the_opened_review_tells_the_hash_an_approval_needs(server: Server) -> None:  # noqa: F811
    pipeline = server.pipeline
    status, review = server.call("POST", f"/api/v1/pipelines/{pipeline}/reviews", "alice", {})
    assert status == 201 and "content_hash" not in review, review
    rid = review["id"]
    status, listed = server.call("GET", f"/api/v1/pipelines/{pipeline}/reviews", "bob")
    assert status == 200 and [r["id"] for r in listed] == [rid]
    assert not any("content_hash" in r for r in listed), listed  # the list gives nothing to approve with
    status, body = server.call("POST", f"/api/v1/reviews/{rid}/approve", "bob", {"content_hash": "0" * 64})
    assert status == 400 and "no longer shows the current content" in body["detail"], body
    status, opened = server.call("GET", f"/api/v1/reviews/{rid}", "bob")
    assert status == 200 and opened["content"]["dag_diff"] and opened["content"]["files"], opened
    status, decided = server.call(
        "POST", f"/api/v1/reviews/{rid}/approve", "bob", {"content_hash": opened["content"]["content_hash"]}
    )
    assert status == 200 and decided["state"] == "approved" and "content_hash" not in decided, decided
