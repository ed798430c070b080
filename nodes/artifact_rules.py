"""Artifact rules: the store, its credentials, safe templates, clashing outputs and the identities that enforce access.

Each rule returns typed issues naming the node and the field, with what to do:

- the store's root (scheme, bucket name, prefix) and its endpoint;
- credentials: an object store needs a secret reference or workload identity (never a value in the file);
- templates: user text that is unsafe in object keys or paths (``:``, ``+``, ``~``, ``\\``, spaces, an
  absolute path, an empty segment) is refused; run-time values are made safe by ``locations.safe_key``;
- two outputs that would resolve to the same location in one run (run-time placeholders held symbolic);
- identities: on a shared POSIX volume every access group needs a numeric gid (and the project one); on an
  object store every group that may read needs a service account for the bucket policy to name.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from .catalog import CATALOG, Catalog
from .common import Access
from .document import Node, Pipeline
from .issues import Code, Issue, Severity
from .locations import symbolic_location, templates
from .ports import PortType
from .store import endpoint_problem, root_problem, store_kind

VALUE_PORT_TYPES = frozenset(
    {PortType.MLFLOW_RUN, PortType.REGISTERED_MODEL, PortType.METRICS, PortType.BENTO, PortType.DEPLOYMENT}
)
"""Output types whose value travels by XCom: they are stored nowhere and get no location."""

_UNSAFE_TEXT_RE = re.compile(r"[:+~\\\s]")


def artifact_issues(pipeline: Pipeline, *, catalog: Catalog = CATALOG) -> list[Issue]:
    """Every artifact problem of ``pipeline``: store and credentials first, then nodes in document order."""
    issues = list(store_issues(pipeline))
    issues.extend(template_issues(pipeline))
    issues.extend(clash_issues(pipeline, catalog=catalog))
    issues.extend(identity_issues(pipeline))
    return issues


def _error(code: Code, message: str, *, node: str | None = None, field: str | None = None) -> Issue:
    return Issue(Severity.ERROR, code, message, node=node, field=field)


def _warning(message: str, *, field: str) -> Issue:
    return Issue(Severity.WARNING, Code.ARTIFACT_STORE, message, field=field)


def store_issues(pipeline: Pipeline) -> Iterator[Issue]:
    """The root names a supported store, and the store's settings fit its kind."""
    settings = pipeline.settings
    root, store = settings.artifact_root, settings.artifact_store
    kind = store_kind(root)
    if root.startswith("/") or "://" in root:  # anything else is already refused by the field check
        problem = root_problem(root)
        if problem:
            yield _error(Code.ARTIFACT_STORE, problem, field="settings.artifact_root")
    where = "settings.artifact_store"
    if store.endpoint_url is not None:
        problem = endpoint_problem(store.endpoint_url)
        if problem:
            yield _error(Code.ARTIFACT_STORE, problem, field=f"{where}.endpoint_url")
        elif kind != "s3":  # a warning: a local run points the root at its workspace and keeps the rest
            yield _warning(
                "the endpoint URL applies to S3-compatible stores only and is ignored; clear it or use an s3:// root",
                field=f"{where}.endpoint_url",
            )
    if store.pvc and kind != "posix":
        yield _warning(
            f"the claim {store.pvc!r} is mounted only for a POSIX root (an absolute path) and is ignored; clear it, "
            "or set the artifact root to the path where the claim is mounted",
            field=f"{where}.pvc",
        )
    if kind in ("s3", "gcs"):
        if not store.credentials_secret and not store.workload_identity:
            keys = "'access_key_id_key' and 'secret_access_key_key'" if kind == "s3" else "'key_file_key' (a JSON key)"
            yield _error(
                Code.MISSING_PARAMETER,
                f"the {kind.upper()} store {root!r} needs credentials: name the Kubernetes secret that holds them in "
                f"'credentials_secret' (keys {keys}), or tick 'workload_identity' when the pods' service accounts "
                "carry them (IRSA, GKE workload identity)",
                field=f"{where}.credentials_secret",
            )
        elif store.credentials_secret and store.workload_identity:
            yield _error(
                Code.ARTIFACT_STORE,
                "both a credentials secret and workload identity are set; clear one of them",
                field=f"{where}.workload_identity",
            )


def template_problem(template: str) -> str | None:
    """Why the user text of a path template or naming format is unsafe in object keys and paths, or None."""
    try:
        literal = "".join(text for text, _, _, _ in string.Formatter().parse(template))
    except ValueError:
        return None  # malformed braces: the field check reports them
    found = sorted(set(_UNSAFE_TEXT_RE.findall(literal)))
    if found:
        shown = ", ".join("a space" if char.isspace() else repr(char) for char in found)
        return (
            f"{template!r} holds {shown}, which object keys and paths do not take safely; use letters, digits, "
            "'_', '.', '=', '-' and '/' (run-time values such as {run_id} are made safe by dagsmith)"
        )
    if template.startswith("/"):
        return f"{template!r} is an absolute path; artifact paths are relative to the root: remove the leading '/'"
    if "//" in template or template.endswith("/"):
        return f"{template!r} has an empty segment ('//' or a trailing '/'); remove it"
    return None


def template_issues(pipeline: Pipeline) -> Iterator[Issue]:
    """Unsafe user text in the pipeline's default templates and each output's own."""
    settings = pipeline.settings
    for field, template in (
        ("settings.path_template", settings.path_template),
        ("settings.naming_format", settings.naming_format),
    ):
        problem = template_problem(template)
        if problem:
            yield _error(Code.INVALID_VALUE, problem, field=field)
    for node in pipeline.nodes:
        for port, output in node.outputs.items():
            for what, own in (("path", output.path), ("naming", output.naming)):
                found = template_problem(own) if own is not None else None
                if found:
                    yield _error(Code.INVALID_VALUE, found, node=node.id, field=f"outputs.{port}.{what}")


def stored_outputs(node: Node, catalog: Catalog = CATALOG) -> list[str]:
    """The node's outputs that are stored as artifacts (not values), in port order; [] for an unknown type."""
    node_type = catalog.get(node.type)
    if node_type is None:
        return []
    return [port.name for port in node_type.ports(node.params)[1] if port.type not in VALUE_PORT_TYPES]


def clash_issues(pipeline: Pipeline, *, catalog: Catalog = CATALOG) -> Iterator[Issue]:
    """Two outputs that would be written to the same location in one run: an error at each, naming the other."""
    seen: dict[str, list[tuple[Node, str]]] = {}
    for node in pipeline.node_map().values():
        for port in stored_outputs(node, catalog):
            seen.setdefault(symbolic_location(pipeline, node, port), []).append((node, port))
    for owners in seen.values():
        if len(owners) < 2 or len({node.task_id() for node, _ in owners}) == 1:
            continue  # nodes that become the same task are reported as such: renaming one fixes both
        for node, port in owners:
            others = ", ".join(f"{o.display_name!r}.{p}" for o, p in owners if (o, p) != (node, port))
            folder, folder_field, name, _ = templates(pipeline, node, port)
            yield _error(
                Code.ARTIFACT_CLASH,
                f"{node.display_name!r}.{port} and {others} would be written to the same location in every run "
                f"('{folder}/{name}'); add {{node}} or {{output}} to the path template or naming format, or give "
                "one of them its own",
                node=node.id,
                field=f"outputs.{port}.path" if folder_field.startswith("outputs.") else f"outputs.{port}.naming",
            )


def _accesses(pipeline: Pipeline) -> Iterator[tuple[Access, str | None, str]]:
    """Every access setting that applies: (access, node id or None, field)."""
    settings = pipeline.settings
    yield settings.default_access, None, "settings.default_access.groups"
    for node in pipeline.nodes:
        if node.access is not None:
            yield node.access, node.id, "access.groups"
        for port, output in node.outputs.items():
            if output.access is not None:
                yield output.access, node.id, f"outputs.{port}.access.groups"


def identity_issues(pipeline: Pipeline) -> Iterator[Issue]:
    """Each group that access names maps to the identity that enforces it in this store."""
    settings = pipeline.settings
    store = settings.artifact_store
    kind = store_kind(settings.artifact_root)
    if kind == "posix" and (store.pvc or store.project_gid is not None or store.group_gids):
        if store.project_gid is None:
            yield _error(
                Code.NO_GROUP_ID,
                "a shared POSIX store needs the project's numeric group id, which owns every artifact; set "
                "'project_gid' (the gid the platform created for this project)",
                field="settings.artifact_store.project_gid",
            )
        for access, node, field in _accesses(pipeline):
            missing = [group for group in access.groups if group not in store.group_gids]
            if access.level == "groups" and missing:
                yield _error(
                    Code.NO_GROUP_ID,
                    f"the group(s) {', '.join(map(repr, missing))} have no numeric gid, so the store cannot let them "
                    "read; add them to settings.artifact_store.group_gids, or remove them here",
                    node=node,
                    field=field,
                )
    elif kind in ("s3", "gcs"):
        accounts = settings.service_accounts.groups
        for access, node, field in _accesses(pipeline):
            missing = [group for group in access.groups if group not in accounts]
            if access.level == "groups" and missing and field.startswith(("outputs.", "settings.")):
                yield _error(
                    Code.NO_SERVICE_ACCOUNT,
                    f"the group(s) {', '.join(map(repr, missing))} may read here but map to no service account, so "
                    "the bucket policy cannot grant them read; add them to settings.service_accounts.groups, or "
                    "remove them here",
                    node=node,
                    field=field,
                )
