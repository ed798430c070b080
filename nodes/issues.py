"""Typed validation issues: what is wrong, where, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad an issue is: errors block export, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    """Stable machine-readable issue codes (the CLI's ``--json`` and the editor key on them)."""

    CYCLE = "cycle"
    DUPLICATE_ID = "duplicate-id"
    DUPLICATE_TASK_ID = "duplicate-task-id"
    UNKNOWN_NODE_TYPE = "unknown-node-type"
    UNKNOWN_NODE = "unknown-node"
    UNKNOWN_PORT = "unknown-port"
    INCOMPATIBLE_PORTS = "incompatible-ports"
    REQUIRED_INPUT = "required-input"
    SINGLE_INPUT = "single-input"
    MISSING_PARAMETER = "missing-parameter"
    UNKNOWN_PARAMETER = "unknown-parameter"
    INVALID_VALUE = "invalid-value"
    GPU_WITHOUT_RESOURCE = "gpu-without-resource"
    ACCESS_DENIED = "access-denied"
    ISOLATED_NODE = "isolated-node"
    EMPTY_PIPELINE = "empty-pipeline"
    DANGLING_COMMENT = "dangling-comment"
    UNMAPPED = "unmapped"
    UNDEFINED_PARAM = "undefined-param"
    UNUSED_PARAM = "unused-param"
    SHM_OVER_MEMORY = "shm-over-memory"
    GPU_SCHEDULING = "gpu-scheduling"
    NO_SERVICE_ACCOUNT = "no-service-account"
    ARTIFACT_STORE = "artifact-store"
    ARTIFACT_CLASH = "artifact-clash"
    NO_GROUP_ID = "no-group-id"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a pipeline document.

    ``field`` is a dotted path inside the node's parameters (``pod.resources.gpu``), inside a node's
    common settings (``outputs.model.path``) or, with no node, inside the pipeline (``settings.schedule``).
    """

    severity: Severity
    code: Code
    message: str
    node: str | None = None
    edge: str | None = None
    field: str | None = None
    suggestions: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        """True for issues that block export."""
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping (used by ``dagsmith validate --json`` and the editor)."""
        return {
            "severity": self.severity.value,
            "code": self.code.value,
            "message": self.message,
            "node": self.node,
            "edge": self.edge,
            "field": self.field,
            "suggestions": list(self.suggestions),
        }

    def location(self) -> str:
        """Where the issue is, for one-line reports: ``node 'train' field 'pod.image'``."""
        parts = []
        if self.node is not None:
            parts.append(f"node {self.node!r}")
        if self.edge is not None:
            parts.append(f"edge {self.edge!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        return " ".join(parts) or "pipeline"


def has_errors(issues: list[Issue]) -> bool:
    """True when any issue is an error."""
    return any(issue.is_error for issue in issues)
