"""Issue 13: a project's protected targets, as an organisation admin who is no member of the project.

``manage`` lets organisation admins manage every project's members, but only a project's owners protect
its branches and deployments. Such an admin must learn nothing of a project they are not in: the refusal
reads like absence (as for anyone outside it), not the store's sentence naming the project and its owner.
The access matrix walks the same rule over HTTP (``team.matrix``, rows ``…/protected``).
"""

from __future__ import annotations

import pytest
from test_team_review import Team, team  # noqa: F401 (the fixture)

from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.services import NoAccessError


@pytest.mark.parametrize("change", ["protect", "unprotect"])
def test_an_organisation_admin_outside_the_project_learns_nothing_of_it(team: Team, change: str) -> None:  # noqa: F811
    team.store.create_user("ora")
    with acting_as(Identity("ora", True)), pytest.raises(NoAccessError) as refused:
        getattr(team.reviews, change)(team.project, "branch", "main")
    message = str(refused.value)
    assert message == f"project {team.project} does not exist or you have no access to it"
    assert "Team" not in message and "alice" not in message
    with team.as_("ed"):  # protection unchanged
        assert [(t.kind, t.name) for t in team.reviews.protected(team.project)] == [("branch", "main")]
