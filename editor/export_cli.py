"""CLI commands that generate code: ``export``, ``versions`` and ``diff``.

Code generation loads jinja2 and dulwich, so the commands import it when they run: registering them
costs the fast commands (validate, catalog) nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from dagsmith.nodes import Pipeline, load

from .terminal import printable

Commands = dict[str, Callable[[argparse.Namespace], int]]
TARGETS = ("airflow3", "airflow2")


def _out(text: str) -> None:
    sys.stdout.write(printable(text) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")


def cmd_export(args: argparse.Namespace) -> int:
    """Write the DAG file to a folder, or commit it with the pipeline source to a git repository."""
    from dagsmith.codegen.errors import ExportError
    from dagsmith.codegen.gitexport import export_to_dir, export_to_git
    from dagsmith.codegen.history import GitExportError

    if getattr(args, "server", None):
        from .team.remote import cmd_export_remote

        return cmd_export_remote(args)
    pipeline = load(args.file)
    try:
        if args.git:
            result = export_to_git(
                pipeline,
                args.git,
                branch=args.branch,
                message=args.message,
                target=args.target,
                force=args.force,
                author=args.author,
            )
        else:
            result = export_to_dir(pipeline, args.out, target=args.target, force=args.force)
    except ExportError as exc:
        _err(f"{args.file}: {exc}")
        return 1
    except GitExportError as exc:
        _err(f"dagsmith export: {exc}")
        return 2
    if args.git:
        _out(result.describe())
    else:
        _out(str(result.paths[0]))
    _warn_for_kubernetes(args.file, pipeline)
    return 0


def _warn_for_kubernetes(file: str, pipeline: Pipeline) -> None:
    """Print what would go wrong on a cluster (pod-local artifacts, the default service account) to stderr."""
    from dagsmith.codegen.export_notices import export_warnings

    for issue in export_warnings(pipeline):
        _err(f"{file}: warning: {issue.message}")


def cmd_versions(args: argparse.Namespace) -> int:
    """List a pipeline's exported versions in a git repository, newest first."""
    from dagsmith.codegen.history import GitExportError, list_versions

    dag_id = _dag_id(args.pipeline)
    try:
        versions = list_versions(args.git, dag_id, branch=args.branch)
    except GitExportError as exc:
        _err(f"dagsmith versions: {exc}")
        return 2
    if not versions:
        _out(f"{dag_id}: no exported versions on branch {args.branch!r}")
        return 0
    for info in versions:
        first_line = info.message.splitlines()[0] if info.message else ""
        _out(
            f"v{info.version}  {info.content_hash}  {info.commit[:10]}  {info.time:%Y-%m-%d %H:%M}  "
            f"{info.author}  {first_line}"
        )
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Show what changed between two exported versions (the DAG file, or the pipeline source)."""
    from dagsmith.codegen.history import GitExportError, diff_versions

    try:
        text = diff_versions(args.git, _dag_id(args.pipeline), args.a, args.b, branch=args.branch, what=args.what)
    except GitExportError as exc:
        _err(f"dagsmith diff: {exc}")
        return 2
    sys.stdout.write(printable(text if text.endswith("\n") or not text else text + "\n"))
    return 0


def _dag_id(value: str) -> str:
    """A dag_id, or the dag_id of a pipeline file when ``value`` names one."""
    if value.endswith(".json"):
        return load(value).dag_id
    return value


def register(sub: Any, commands: Commands) -> None:
    """Add export, versions and diff to the CLI."""
    p = sub.add_parser("export", help="write the Airflow DAG file, or commit it to git")
    p.add_argument("file", metavar="FILE", help="a *.dagsmith.json file")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="write DIR/<dag_id>.py")
    where.add_argument("--git", metavar="REPO", help="commit dags/<dag_id>.py and the pipeline to REPO")
    where.add_argument(
        "--server",
        metavar="URL",
        help="commit FILE (a pipeline's name, DAG id or id) through a team server; token in DAGSMITH_SERVER_TOKEN",
    )
    p.add_argument("--project", metavar="NAME", help="with --server: the project the pipeline belongs to")
    p.add_argument("--target", choices=TARGETS, default="airflow3", help="Airflow version (default airflow3)")
    p.add_argument("--branch", default="main", help="git branch (default main; created if missing)")
    p.add_argument("--message", "-m", help="extra commit message")
    p.add_argument("--author", help="commit author as 'Name <email>'")
    p.add_argument("--force", action="store_true", help="overwrite a file edited by hand or not made by dagsmith")

    p = sub.add_parser("versions", help="list a pipeline's exported versions")
    p.add_argument("pipeline", metavar="DAG_ID|FILE")
    p.add_argument("--git", metavar="REPO", required=True)
    p.add_argument("--branch", default="main")

    p = sub.add_parser("diff", help="show what changed between two exported versions")
    p.add_argument("pipeline", metavar="DAG_ID|FILE")
    p.add_argument("a", type=int, metavar="A")
    p.add_argument("b", type=int, metavar="B")
    p.add_argument("--git", metavar="REPO", required=True)
    p.add_argument("--branch", default="main")
    p.add_argument("--what", choices=("dag", "pipeline"), default="dag", help="diff the DAG file or the pipeline")

    commands.update(export=cmd_export, versions=cmd_versions, diff=cmd_diff)
