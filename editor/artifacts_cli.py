"""``dagsmith artifacts policy PIPELINE_FILE``: what the platform team applies once for the pipeline's store.

It prints the S3 bucket policy (JSON), the GCS IAM bindings with conditions (JSON), or for a POSIX store the
one-time shell commands for its root (``codegen.store_policy``). Problems with the store or its identities are
reported like ``dagsmith validate`` does, naming node and field, and nothing is printed to apply.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from dagsmith.nodes import Code, load, validate

from .terminal import printable

Commands = dict[str, Callable[[argparse.Namespace], int]]

_CODES = frozenset({Code.ARTIFACT_STORE, Code.ARTIFACT_CLASH, Code.NO_GROUP_ID, Code.NO_SERVICE_ACCOUNT})
_RELEVANT = (
    "settings.artifact",
    "settings.service_accounts",
    "settings.project",
    "settings.default_access",
    "outputs.",
)


def cmd_artifacts_policy(args: argparse.Namespace) -> int:
    """Print the store's policy or setup for ``args.file``; 1 when the store settings have errors."""
    from dagsmith.codegen.store_policy import DEFAULT_PRINCIPAL, policy_text

    pipeline = load(args.file)
    blocking = [
        issue
        for issue in validate(pipeline)
        if issue.is_error and ((issue.field or "").startswith(_RELEVANT) or issue.code in _CODES)
    ]
    if blocking:
        for issue in blocking:
            sys.stderr.write(printable(f"{args.file}: {issue.location()}: {issue.message}") + "\n")
        sys.stderr.write(printable(f"{args.file}: fix the artifact store settings above, then run again") + "\n")
        return 1
    sys.stdout.write(policy_text(pipeline, principal=args.principal or DEFAULT_PRINCIPAL))
    return 0


def register(sub: Any, commands: Commands) -> None:
    """Add ``artifacts policy`` to the CLI."""
    p = sub.add_parser("artifacts", help="the artifact store: what a platform sets up once")
    inner = p.add_subparsers(dest="artifacts_command", required=True, metavar="ACTION")
    q = inner.add_parser(
        "policy",
        help="print the S3 bucket policy, the GCS IAM bindings or the POSIX setup commands for a pipeline's store",
    )
    q.add_argument("file", metavar="PIPELINE_FILE", help="a *.dagsmith.json file")
    q.add_argument(
        "--principal",
        metavar="TEMPLATE",
        help="S3: how a service account appears as a principal (default "
        "'arn:aws:iam::ACCOUNT_ID:role/{service_account}')",
    )
    commands["artifacts"] = cmd_artifacts_policy
