"""Warnings at export to a Kubernetes target: settings that load fine but behave wrongly on a cluster.

They are not part of ``validate()``: a pipeline that only runs locally is right as it is, and the
validation issue lists stay what they are. ``dagsmith export`` prints them and the editor's export
dialog shows them; neither blocks the export.
"""

from __future__ import annotations

from dagsmith.nodes import Code, Issue, Pipeline, Severity
from dagsmith.nodes.store import store_kind

__all__ = ["export_warnings"]


def export_warnings(pipeline: Pipeline) -> list[Issue]:
    """What a reviewer should fix before the exported DAG runs on Kubernetes (empty when nothing)."""
    issues = [_pod_local_root(pipeline), _default_service_account(pipeline)]
    return [issue for issue in issues if issue is not None]


def _pod_local_root(pipeline: Pipeline) -> Issue | None:
    """An artifact root that is a path inside each pod, with no shared volume mounted there."""
    settings = pipeline.settings
    if not pipeline.nodes or store_kind(settings.artifact_root) != "posix" or settings.artifact_store.pvc:
        return None
    return Issue(
        Severity.WARNING,
        Code.ARTIFACT_STORE,
        f"the artifact root {settings.artifact_root!r} is a folder inside each pod and no shared store is "
        "configured, so on Kubernetes a step's outputs are gone before the next pod reads them; set "
        "settings.artifact_store.pvc to a ReadWriteMany PersistentVolumeClaim (mounted at that path in every "
        "pod), or set settings.artifact_root to s3://bucket/prefix or gs://bucket/prefix with "
        "settings.artifact_store.credentials_secret or workload_identity",
        field="settings.artifact_store.pvc",
    )


def _default_service_account(pipeline: Pipeline) -> Issue | None:
    """No service account mapped at all: every pod runs as the namespace's ``default`` account."""
    settings = pipeline.settings
    accounts = settings.service_accounts
    if not pipeline.nodes or accounts.private or accounts.public or accounts.groups or accounts.deployer:
        return None  # once any is mapped, validation requires one for every access a node uses
    needed: list[str] = []  # (a deploy step without settings.service_accounts.deployer is a validation error)
    for node in pipeline.nodes:
        access = node.access or settings.default_access
        if access.level in ("private", "public"):
            field = f"settings.service_accounts.{access.level}"
        else:
            field = "settings.service_accounts.groups" + (f" ({', '.join(access.groups)})" if access.groups else "")
        if field not in needed:
            needed.append(field)
    return Issue(
        Severity.WARNING,
        Code.NO_SERVICE_ACCOUNT,
        f"no service account is mapped, so every pod runs as the 'default' service account of namespace "
        f"{settings.namespace!r} with whatever it may do; set {', '.join(needed)} to the accounts these steps "
        "should run as",
        field=needed[0] if needed else "settings.service_accounts",
    )
