"""The ``dagsmith`` command line.

The document commands (validate, schema, catalog, import) load neither NiceGUI nor Airflow, so they
start fast; heavier modules are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from dagsmith.nodes import CATALOG, DocumentError, Issue, Pipeline, json_schema, load, validate

from . import artifacts_cli, export_cli, health_cli, run_cli, steps_cli
from .airflow_local import cli as airflow_cli
from .deployments import cli as deployments_cli
from .team import cli as team_cli
from .terminal import json_text, printable

EXIT_OK, EXIT_ISSUES, EXIT_UNREADABLE = 0, 1, 2


class UsageError(Exception):
    """A problem with how a command was called; printed without a traceback, exit status 2."""


def _say(text: str = "") -> None:
    sys.stdout.write(printable(text) + "\n")


def _warn(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")


def format_issue(issue: Issue, pipeline: Pipeline, source: str) -> str:
    """One line per issue: ``FILE: error [code] node 'id' (Label) field 'x': message``."""
    where = []
    if issue.node is not None:
        node = pipeline.node(issue.node)
        label = ""
        if node is not None and node.label and node.label != issue.node:
            label = f" ({printable(node.label, newlines=False)})"  # one line, whatever the label holds
        where.append(f"node {issue.node!r}{label}")
    if issue.edge is not None:
        where.append(f"edge {issue.edge!r}")
    if issue.field is not None:
        where.append(f"field {issue.field!r}")
    location = " ".join(where) or "pipeline"
    return f"{source}: {issue.severity.value} [{issue.code.value}] {location}: {issue.message}"


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate pipeline files; 0 without errors, 1 with errors, 2 when a file cannot be read."""
    status = EXIT_OK
    results = []
    for name in args.files:
        try:
            pipeline = load(name)
        except DocumentError as exc:
            status = EXIT_UNREADABLE
            if args.json:
                results.append({"file": name, "readable": False, "error": str(exc)})
            else:
                _warn(str(exc))
            continue
        issues = validate(pipeline)
        errors = sum(issue.is_error for issue in issues)
        if errors and status == EXIT_OK:
            status = EXIT_ISSUES
        if args.json:
            results.append(
                {
                    "file": name,
                    "readable": True,
                    "dag_id": pipeline.dag_id,
                    "errors": errors,
                    "warnings": len(issues) - errors,
                    "issues": [issue.to_dict() for issue in issues],
                }
            )
            continue
        for issue in issues:
            _say(format_issue(issue, pipeline, name))
        verdict = "valid" if not errors else f"{errors} error(s)"
        _say(f"{name}: {verdict}, {len(issues) - errors} warning(s)")
    if args.json:
        _say(json_text(results))
    return status


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the pipeline file format."""
    _say(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def cmd_catalog(args: argparse.Namespace) -> int:
    """List the node types with their ports and fields."""
    entries = CATALOG.describe()
    if args.json:
        _say(json.dumps(entries, indent=2))
        return EXIT_OK
    for entry in entries:
        _say(f"{entry['type']}  [{entry['family']}]  {entry['summary']}")
        for direction in ("inputs", "outputs"):
            for port in entry[direction]:
                flags = ", ".join(f for f, on in (("required", port["required"]), ("many", port["multiple"])) if on)
                arrow = "<-" if direction == "inputs" else "->"
                extra = f" ({flags})" if flags else ""
                _say(f"    {arrow} {port['name']}: {port['type']}{extra}  {port['description']}".rstrip())
        for name, field in entry["fields"].items():
            mark = "*" if field["required"] else " "
            _say(f"    {mark} {name}: {field['annotation']}  {field['description']}".rstrip())
        _say()
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Convert an Elyra .pipeline file to a dagsmith document, reporting what could not be mapped."""
    from dagsmith.nodes.elyra import ElyraImportError, import_elyra_file
    from dagsmith.nodes.fileformat import save

    from .readback import unstorable

    default = Path(args.file).with_suffix(".dagsmith.json")
    out = Path(args.output) if args.output else default
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give a file path for -o, e.g. {out / default.name}")
    if not out.parent.is_dir():
        raise UsageError(f"the folder {out.parent} does not exist; create it first or choose another -o path")
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; choose another -o path or pass --force to overwrite it")
    try:
        pipeline, report = import_elyra_file(args.file)
    except ElyraImportError as exc:
        _warn(str(exc))
        return EXIT_UNREADABLE
    problem = unstorable(pipeline)
    if problem:
        _warn(f"{args.file}: the imported pipeline cannot be saved: {problem}")
        return EXIT_UNREADABLE
    try:
        save(pipeline, out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}; choose another -o path") from None
    for line in report.unmapped:
        _warn(f"not mapped: {line}")
    for line in report.warnings:
        _warn(f"warning: {line}")
    _say(f"wrote {out} ({len(pipeline.nodes)} nodes, {len(pipeline.edges)} edges, {len(report.unmapped)} unmapped)")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "catalog": cmd_catalog,
    "import": cmd_import,
    "schema": cmd_schema,
    "validate": cmd_validate,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="dagsmith", description="Visual ML pipelines exported as versioned Airflow DAG files."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check pipeline files and list their issues")
    p.add_argument("files", nargs="+", metavar="FILE", help="*.dagsmith.json files")
    p.add_argument("--json", action="store_true", help="print the issues as JSON")

    sub.add_parser("schema", help="print the JSON Schema of the pipeline file format")

    p = sub.add_parser("catalog", help="list the node types with their ports and fields")
    p.add_argument("--json", action="store_true", help="print the catalog as JSON")

    p = sub.add_parser("import", help="convert an Elyra .pipeline file")
    p.add_argument("file", metavar="FILE.pipeline")
    p.add_argument("-o", "--output", metavar="OUT.dagsmith.json", help="where to write (default: beside the file)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    _add_export_commands(sub)
    return parser


def _add_export_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Export, versions and diff (code generation), and the editor; implemented in their own modules."""
    export_cli.register(sub, COMMANDS)
    artifacts_cli.register(sub, COMMANDS)
    steps_cli.register(sub, COMMANDS)
    run_cli.register(sub, COMMANDS)
    health_cli.register(sub, COMMANDS)
    airflow_cli.register(sub, COMMANDS)
    deployments_cli.register(sub, COMMANDS)
    team_cli.register(sub, COMMANDS)
    p = sub.add_parser("edit", help="serve the editor in the browser (on this machine only)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    _add_allow_host(p)
    p = sub.add_parser("desktop", help="open the editor in a native window")
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="a *.dagsmith.json or Elyra *.pipeline file to open (imported into the local project)",
    )
    p.add_argument("--port", type=int, default=0, help="port of the embedded server (default: a free one)")
    _add_allow_host(p)
    COMMANDS.update(edit=cmd_edit, desktop=cmd_desktop)


def _add_allow_host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests for this host name (e.g. an /etc/hosts alias of 127.0.0.1); "
        "repeatable, or DAGSMITH_ALLOWED_HOSTS=a,b",
    )


def cmd_edit(args: argparse.Namespace) -> int:
    """Serve the editor on loopback, behind a per-launch token (loads NiceGUI only now)."""
    from .security import editor_url, is_loopback_host, launch_token

    if not is_loopback_host(args.host):
        raise UsageError(
            f"refusing --host {args.host}: the local editor runs commands as you, so it listens on this machine "
            "only (127.0.0.1, ::1 or localhost). Opening it to other machines is team mode's job "
            "(`dagsmith serve`, with sign-in and project roles); or reach this editor through an SSH tunnel: "
            f"ssh -L {args.port}:127.0.0.1:{args.port} THIS-HOST"
        )
    from .app import run_editor

    token = launch_token()
    _say(f"dagsmith editor on {editor_url(args.host, args.port, token)} (Ctrl+C stops it)")
    sys.stdout.flush()  # the address must show even when stdout is a pipe or a file
    run_editor(
        host=args.host,
        port=args.port,
        show=not args.no_browser and not os.environ.get("CI"),
        token=token,
        allow_hosts=args.allow_host,
    )
    return EXIT_OK


def cmd_desktop(args: argparse.Namespace) -> int:
    """Open the editor in a native window (which gets the per-launch token), on FILE's pipeline when given."""
    from .desktop.launch import claim_or_hand_over, restart_in_run_env
    from .errors import UserError

    file = Path(args.file).expanduser().resolve() if args.file else None
    # Once "Set up local runs" made the run environment, the packaged app starts from there (runenv.py).
    hosts = [option for host in args.allow_host for option in ("--allow-host", host)]
    restart_in_run_env(["desktop", *([str(file)] if file else []), "--port", str(args.port), *hosts])
    try:
        first = claim_or_hand_over(file)  # one app at a time: the running one opens FILE (or comes to the front)
    except UserError as exc:
        raise UsageError(str(exc)) from None
    if not first:
        _say(f"dagsmith is already open: {'opened ' + str(file) + ' there' if file else 'brought it to the front'}")
        return EXIT_OK
    from nicegui import native

    from .app import run_editor

    run_editor(native=True, port=args.port or native.find_open_port(), allow_hosts=args.allow_host, file=file)
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit status; user errors never show a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        _warn(f"dagsmith {args.command}: {exc}")
        return EXIT_UNREADABLE
    except DocumentError as exc:
        _warn(str(exc))
        return EXIT_UNREADABLE
    except BrokenPipeError:  # e.g. `dagsmith catalog | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        _warn("interrupted")
        return 130
    except Exception as exc:  # a bug: say so briefly; DAGSMITH_DEBUG=1 shows the traceback
        if os.environ.get("DAGSMITH_DEBUG"):
            traceback.print_exc()
        _warn(
            f"dagsmith {args.command}: internal error ({type(exc).__name__}: {exc}). "
            "Your files were not changed. Run again with DAGSMITH_DEBUG=1 and report the traceback."
        )
        return 70


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
