"""Why an export was refused."""

from __future__ import annotations

from dagsmith.nodes import Issue


class ExportError(Exception):
    """The pipeline cannot be exported; ``issues`` are the errors that block it (as from ``validate``)."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        lines = [f"{issue.location()}: {issue.message}" for issue in issues[:10]]
        more = f"\n  ... and {len(issues) - 10} more" if len(issues) > 10 else ""
        super().__init__("the pipeline cannot be exported:\n  " + "\n  ".join(lines) + more)
