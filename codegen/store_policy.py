"""What a platform team applies once so that the store enforces each output's access (``dagsmith artifacts policy``).

- S3: a bucket policy. Each step's identity (its service account, as an IAM principal) may write its own outputs'
  keys; reads are granted on the pipeline's prefix by the object tags the step runtime writes on every object
  (``dagsmith-access``, ``dagsmith-groups``, ``dagsmith-project``): private to the project's identities, groups
  to the groups' identities (and the project's), public to every identity the pipeline names.
- GCS: IAM bindings with conditions on object-name prefixes (GCS has no object tags in IAM conditions).
- POSIX: the one-time shell commands for the root on the shared volume (groups, owner, setgid mode, ACLs).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dagsmith.nodes import Access, Node, Pipeline
from dagsmith.nodes.artifact_rules import stored_outputs
from dagsmith.nodes.k8s_rules import service_account_for
from dagsmith.nodes.locations import RUNTIME_PLACEHOLDERS, relative_location
from dagsmith.nodes.store import split_bucket, store_kind

DEFAULT_PRINCIPAL = "arn:aws:iam::ACCOUNT_ID:role/{service_account}"
"""How a service account appears as an S3 principal (IRSA: the IAM role bound to it); ``--principal`` changes it."""

_WILD = dict.fromkeys(RUNTIME_PLACEHOLDERS, "*")


@dataclass(frozen=True, slots=True)
class StoredOutput:
    """One stored output: the node, the port, its key pattern under the root (``*`` for run values), its access."""

    node: Node
    port: str
    pattern: str
    access: Access
    writer: str | None


def outputs_of(pipeline: Pipeline) -> list[StoredOutput]:
    """Every stored output of the pipeline, in document order."""
    settings = pipeline.settings
    found = []
    for node in pipeline.node_map().values():
        for port in stored_outputs(node):
            stored = node.outputs.get(port)
            access = (stored.access if stored else None) or settings.default_access
            pattern = relative_location(pipeline, node, port, run=_WILD)
            writer = service_account_for(settings, node.type, node.access)
            found.append(StoredOutput(node, port, pattern, access, writer))
    return found


def identities(pipeline: Pipeline) -> dict[str, set[str]]:
    """The service accounts by role: ``project`` (private and deployer), ``public``, and one set per group."""
    accounts = pipeline.settings.service_accounts
    roles: dict[str, set[str]] = {"project": {a for a in (accounts.private, accounts.deployer) if a}}
    roles["public"] = {accounts.public} if accounts.public else set()
    for group, account in accounts.groups.items():
        roles["group:" + group] = {account}
    return roles


def s3_policy(pipeline: Pipeline, *, principal: str = DEFAULT_PRINCIPAL) -> dict[str, Any]:
    """The S3 bucket policy (JSON) for the pipeline's prefix; see the module's summary."""
    settings = pipeline.settings
    bucket, prefix = split_bucket(settings.artifact_root)
    base = f"arn:aws:s3:::{bucket}/" + (prefix + "/" if prefix else "")
    project = settings.effective_project()

    def who(accounts: set[str]) -> dict[str, Any]:
        names = [principal.format(service_account=a) for a in sorted(accounts)]
        return {"AWS": names[0] if len(names) == 1 else names}

    statements: list[dict[str, Any]] = []
    writers: dict[str, list[str]] = {}
    for output in outputs_of(pipeline):
        if output.writer:
            writers.setdefault(output.writer, []).append(base + output.pattern + "*")
    for account, resources in sorted(writers.items()):
        statements.append(
            {
                "Sid": _sid("Write", account),
                "Effect": "Allow",
                "Principal": who({account}),
                "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"],
                "Resource": sorted(set(resources)),
            }
        )
    roles = identities(pipeline)
    everyone = set().union(*roles.values())
    reads: list[tuple[str, set[str], dict[str, Any]]] = [
        ("ReadPrivate", roles["project"], {"StringEquals": {"s3:ExistingObjectTag/dagsmith-project": project}}),
        ("ReadPublic", everyone, {"StringEquals": {"s3:ExistingObjectTag/dagsmith-access": "public"}}),
    ]
    for role, accounts in sorted(roles.items()):
        if role.startswith("group:"):
            group = role.removeprefix("group:")
            condition = {
                "StringEquals": {"s3:ExistingObjectTag/dagsmith-access": "groups"},
                "StringLike": {
                    "s3:ExistingObjectTag/dagsmith-groups": [group, f"{group}.*", f"*.{group}", f"*.{group}.*"]
                },
            }
            reads.append((_sid("ReadGroup", group), accounts, condition))
    for sid, accounts, condition in reads:
        if accounts:
            statements.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Principal": who(accounts),
                    "Action": ["s3:GetObject", "s3:GetObjectTagging"],
                    "Resource": base + "*",
                    "Condition": condition,
                }
            )
    if everyone:
        statements.append(
            {
                "Sid": "ListPrefix",
                "Effect": "Allow",
                "Principal": who(everyone),
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": (prefix + "/*") if prefix else "*"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def gcs_bindings(pipeline: Pipeline, *, member: str = "serviceAccount:{service_account}") -> dict[str, Any]:
    """GCS IAM bindings: writers on their outputs' prefixes, readers by each output's access."""
    bucket, prefix = split_bucket(pipeline.settings.artifact_root)
    base = f"projects/_/buckets/{bucket}/objects/" + (prefix + "/" if prefix else "")
    roles = identities(pipeline)
    everyone = set().union(*roles.values())
    bindings: list[dict[str, Any]] = []
    for output in outputs_of(pipeline):
        static = base + output.pattern.split("*", 1)[0]
        where = f"{output.node.display_name}.{output.port}"
        condition = f'resource.name.startsWith("{static}")'
        if output.writer:
            bindings.append(
                _binding("roles/storage.objectCreator", {output.writer}, member, "write " + where, condition)
            )
        readers = _readers(output.access, roles, everyone)
        bindings.append(_binding("roles/storage.objectViewer", readers, member, "read " + where, condition))
    return {"bucket": bucket, "bindings": [b for b in bindings if b["members"]]}


def _readers(access: Access, roles: dict[str, set[str]], everyone: set[str]) -> set[str]:
    if access.level == "public":
        return everyone
    readers = set(roles["project"])
    if access.level == "groups":
        for group in access.groups:
            readers |= roles.get("group:" + group, set())
    return readers


def _binding(role: str, accounts: set[str], member: str, title: str, expression: str) -> dict[str, Any]:
    return {
        "role": role,
        "members": [member.format(service_account=a) for a in sorted(accounts)],
        "condition": {"title": title[:100], "expression": expression},
    }


def posix_setup(pipeline: Pipeline) -> Iterator[str]:
    """The one-time shell commands (as root, on a machine that mounts the volume) for the POSIX root."""
    settings = pipeline.settings
    store = settings.artifact_store
    root = settings.artifact_root.rstrip("/") or "/"
    project = settings.effective_project()
    gid = store.project_gid
    yield f"# one-time setup of the artifact root {root} (PVC {store.pvc or '(none)'}) for project {project}"
    yield "# step pods must run with the project's gid as a supplemental group (securityContext.supplementalGroups)"
    if gid is None:
        yield "# settings.artifact_store.project_gid is not set: choose the project's gid and set it first"
        return
    yield f"getent group {gid} >/dev/null || groupadd -g {gid} {shlex.quote('dagsmith-' + project)}"
    for group, group_gid in sorted(store.group_gids.items()):
        yield f"getent group {group_gid} >/dev/null || groupadd -g {group_gid} {shlex.quote(group)}"
    quoted = shlex.quote(root)
    yield f"mkdir -p {quoted}"
    yield f"chown root:{gid} {quoted}"
    # setgid: everything created below belongs to the project's group; 'other' may only traverse.
    yield f"chmod 2771 {quoted}"
    yield f"setfacl -m g:{gid}:rwx -d -m g:{gid}:rwx {quoted}  # needs ACL support; without it the mode alone applies"
    for group_gid in sorted(set(store.group_gids.values())):
        yield f"setfacl -m g:{group_gid}:--x {quoted}  # the group may traverse to the artifacts shared with it"


def policy_text(pipeline: Pipeline, *, principal: str = DEFAULT_PRINCIPAL) -> str:
    """What ``dagsmith artifacts policy`` prints for the pipeline's store."""
    kind = store_kind(pipeline.settings.artifact_root)
    if kind == "s3":
        return json.dumps(s3_policy(pipeline, principal=principal), indent=2) + "\n"
    if kind == "gcs":
        return json.dumps(gcs_bindings(pipeline), indent=2) + "\n"
    if kind == "posix":
        return "\n".join(posix_setup(pipeline)) + "\n"
    raise ValueError(f"{pipeline.settings.artifact_root!r} is not an artifact store dagsmith supports")


def _sid(kind: str, name: str) -> str:
    return kind + "".join(part.capitalize() for part in name.replace(".", "-").replace("_", "-").split("-"))
