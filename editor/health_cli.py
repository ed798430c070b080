"""``dagsmith health FILE [--json]``: the model health page's status and version table, for CI and terminals.

Exit status: 0 every monitored model is healthy, 1 a monitor's metric has crossed its threshold, 2 the file
or MLflow cannot be read (the message names the tracking URI and what to do). Registering the command
costs nothing: MLflow loads only when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .terminal import printable

if TYPE_CHECKING:
    from .integrations import HealthReport

Commands = dict[str, Callable[[argparse.Namespace], int]]
EXIT_HEALTHY, EXIT_DECAYED, EXIT_UNREADABLE = 0, 1, 2


def _out(text: str = "") -> None:
    sys.stdout.write(printable(text) + "\n")


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def cmd_health(args: argparse.Namespace) -> int:
    """Read the pipeline's model health from MLflow and print it (text or JSON)."""
    from dagsmith.nodes import DocumentError, load

    from .integrations import ComponentUnavailable, Configured, health_location, read_health
    from .integrations.decay_watch import has_monitoring

    try:
        pipeline = load(args.file)
    except DocumentError as exc:
        sys.stderr.write(printable(str(exc)) + "\n")
        return EXIT_UNREADABLE
    if not has_monitoring(pipeline):
        sys.stderr.write(
            f"dagsmith health: {args.file} has no Monitor or Model gate node: add a Monitor node with the model's "
            "name, the metric your monitoring step logs and a threshold\n"
        )
        return EXIT_UNREADABLE
    location: Configured | None = None
    try:
        if args.tracking_uri:
            location = Configured(args.tracking_uri, "--tracking-uri")
        else:
            location = health_location(pipeline, Path(args.workspace).expanduser() if args.workspace else None)
        report = read_health(location.location, pipeline, source=location.source)
    except ComponentUnavailable as exc:
        from .runs.workspace import redact

        shown = exc.message.replace(location.location, redact(location.location)) if location else exc.message
        sys.stderr.write(f"dagsmith health: {printable(shown)}\n")
        return EXIT_UNREADABLE
    healthy = all(panel.healthy for model in report.models for panel in model.panels)
    if args.json:
        document = _finite({"healthy": healthy, **dataclasses.asdict(report)})
        sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
    else:
        _print(report)
    return EXIT_HEALTHY if healthy else EXIT_DECAYED


def _finite(value: Any) -> Any:
    """``value`` with NaN (an unset threshold) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _print(report: HealthReport) -> None:
    from .runs.workspace import redact

    _out(f"MLflow: {redact(report.tracking_uri)} (from {report.source})")
    for model in report.models:
        _out()
        _out(model.name)
        if model.note:
            _out(f"  {model.note}")
        for panel in model.panels:
            watch = panel.watch
            _out(f"  monitor {watch.node!r} ({watch.metric}, retrain {watch.trigger_when} {watch.threshold:g}):")
            _out(f"    {'OK' if panel.healthy else 'DECAYED'}: {panel.status}")
            for trigger in panel.triggers:
                _out(
                    f"    retraining triggered {_when(trigger.time)}: run {trigger.triggered_run_id or trigger.run_id}"
                )
            for span in panel.spans:
                until = "now" if span.end is None else _when(span.end)
                how = "recorded" if span.recorded else "registry" if not span.inferred else "inferred"
                _out(f"    v{span.version} @{span.alias}: {_when(span.start)} to {until} ({how})")
        if model.versions:
            metric = model.gate_metric or "gate metric"
            _out(f"  {'version':<9}{'created':<22}{metric:>12}  {'aliases':<20}gate")
            outcome = {True: "passed", False: "failed", None: "-"}
            for row in reversed(model.versions):
                value = "-" if row.metric is None else f"{row.metric:g}"
                aliases = ", ".join("@" + alias for alias in row.aliases) or "-"
                line = f"v{row.version:<8}{_when(row.created):<22}{value:>12}  {aliases:<20}{outcome[row.passed]}"
                _out("  " + line)


def register(sub: Any, commands: Commands) -> None:
    """Add ``health`` to the CLI."""
    p = sub.add_parser("health", help="model health: the monitored metric, triggers and versions, from MLflow")
    p.add_argument("file", metavar="FILE", help="a *.dagsmith.json file with Monitor or Model gate nodes")
    p.add_argument("--json", action="store_true", help="print the health as JSON")
    p.add_argument("--tracking-uri", metavar="URI", help="the MLflow to read (default: as the pipeline's runs)")
    p.add_argument("--workspace", metavar="DIR", help="the local-run workspace whose MLflow database to read")
    commands["health"] = cmd_health
