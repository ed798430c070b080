"""Model health (model decay): what a pipeline's Monitor and Model gate nodes watch, and how it went.

Pure functions, no MLflow and no NiceGUI: ``decay_watch.watched_models(pipeline)`` says which registered
models the pipeline's Monitor, Model gate and Register model nodes name (and with which metric, threshold
and direction); ``model_health`` turns what MLflow holds for one model (monitoring measurements, retraining
triggers, versions with their aliases and evaluation metric) into the dashboard's model: one series per
version, the threshold, the triggers, which version held the monitor's alias when, the per-version table,
and the status in words. ``decay_reader.read_health`` reads MLflow and calls these.

MLflow keeps no history of aliases, so the pipeline's steps record each alias move they make on the version
(a ``dagsmith.alias_move.<alias>.<ms>`` tag, steps' ``runtime.move_alias``): who held the alias when comes
from those records; before the first record it is inferred from the monitoring runs (the monitor measures
the version its alias names, so a new version's first measurement is when it took over); the current holder
comes from the registry. Drift monitors log each measurement (``dagsmith.kind=drift``) and are charted alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .decay_watch import Gate, Watch, WatchedModel

TRIGGER_KIND = "retrain-trigger"
"""The ``dagsmith.kind`` tag of the runs the monitor step records a retraining trigger with (monitor.py)."""
DRIFT_KIND = "drift"
"""The ``dagsmith.kind`` tag of the runs the monitor step (source ``drift``) logs a drift measurement with."""
ALIAS_MOVE_TAG = "dagsmith.alias_move."
"""Prefix of the model-version tags the steps record an alias move with (the steps' ``runtime.move_alias``)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """A monitoring run's value of the metric for one version (``time`` in epoch seconds)."""

    version: str
    time: float
    value: float
    run_id: str


@dataclass(frozen=True, slots=True)
class Trigger:
    """A recorded retraining trigger: when, its MLflow run, and the Airflow run it triggered."""

    time: float
    run_id: str
    triggered_run_id: str
    retrain_dag_id: str
    value: float | None = None


@dataclass(frozen=True, slots=True)
class AliasMove:
    """A recorded alias move: ``alias`` was pointed at ``version`` at ``time`` (it named ``previous`` before)."""

    alias: str
    version: str
    time: float
    previous: str | None = None
    run_id: str = ""
    """The Airflow run that moved it."""


@dataclass(frozen=True, slots=True)
class Version:
    """A registered model version as the registry holds it, and its evaluation metric (None: not logged)."""

    version: str
    created: float
    run_id: str
    aliases: tuple[str, ...] = ()
    metric: float | None = None
    moves: tuple[AliasMove, ...] = ()
    """The alias moves recorded on this version."""


@dataclass(frozen=True, slots=True)
class AliasSpan:
    """``version`` held ``alias`` from ``start`` until ``end`` (None: still holds it)."""

    alias: str
    version: str
    start: float
    end: float | None
    inferred: bool = True
    """From the monitoring runs (for moves before any was recorded); False when recorded or from the registry."""
    recorded: bool = False
    """Its start is a recorded move (a step's ``dagsmith.alias_move.`` tag)."""


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A line of the per-version table."""

    version: str
    created: float
    metric: float | None
    aliases: tuple[str, ...]
    passed: bool | None
    """Whether the gate's rule passes it (against the champion before it); None: no gate or no metric."""


@dataclass(frozen=True, slots=True)
class Panel:
    """One monitor's chart and status for a model."""

    watch: Watch
    series: dict[str, list[tuple[float, float]]]
    """Version → (time, value) points, oldest first."""
    triggers: list[Trigger]
    spans: list[AliasSpan]
    status: str
    healthy: bool


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """Everything the dashboard shows for one registered model."""

    name: str
    panels: list[Panel] = field(default_factory=list)
    versions: list[VersionRow] = field(default_factory=list)
    gate_metric: str | None = None
    note: str = ""


# -- the dashboard's model -------------------------------------------------------------------------------------
def crossed(value: float, watch: Watch) -> bool:
    """Whether ``value`` crossed the monitor's threshold (monitor.py's ``should_trigger``)."""
    return value < watch.threshold if watch.trigger_when == "below" else value > watch.threshold


def gate_passes(metric: float, champion: float | None, gate: Gate) -> bool:
    """The gate's rule (model_gate.py's ``decide``): the threshold and/or beating the champion."""
    maximize = gate.direction == "maximize"
    passed = True
    if gate.threshold is not None:
        passed = metric >= gate.threshold if maximize else metric <= gate.threshold
    if gate.compare_to_champion and champion is not None:
        improvement = metric - champion if maximize else champion - metric
        passed = passed and improvement > 0 and improvement >= gate.min_improvement
    return passed


def version_rows(versions: Sequence[Version], gate: Gate | None) -> list[VersionRow]:
    """The table, oldest version first; ``passed`` replays the gate in version order (a pass moves the champion)."""
    rows: list[VersionRow] = []
    champion: float | None = None
    for item in sorted(versions, key=lambda v: _version_key(v.version)):
        passed: bool | None = None
        if gate is not None and item.metric is not None:
            passed = gate_passes(item.metric, champion, gate)
            if passed:
                champion = item.metric
        rows.append(VersionRow(item.version, item.created, item.metric, item.aliases, passed))
    return rows


def alias_spans(measurements: Sequence[Measurement], versions: Sequence[Version], alias: str) -> list[AliasSpan]:
    """Who held ``alias`` when: the recorded moves, before the first of them runs of consecutive measurements of
    one version (inferred), then the registry's holder."""
    moves = sorted((m for v in versions for m in v.moves if m.alias == alias), key=lambda m: m.time)
    first = moves[0].time if moves else math.inf
    spans: list[AliasSpan] = []
    for point in sorted((m for m in measurements if m.time < first), key=lambda m: m.time):
        if not spans or spans[-1].version != point.version:
            if spans:
                spans[-1] = AliasSpan(alias, spans[-1].version, spans[-1].start, point.time)
            spans.append(AliasSpan(alias, point.version, point.time, None))
    for move in moves:
        if spans and spans[-1].end is None:
            spans[-1] = replace(spans[-1], end=move.time)
        spans.append(AliasSpan(alias, move.version, move.time, None, inferred=False, recorded=True))
    last_seen = max([m.time for m in measurements] + [m.time for m in moves], default=0.0)
    holder = next((v for v in versions if alias in v.aliases), None)
    if holder is None:
        if spans:
            spans[-1] = replace(spans[-1], end=last_seen)
        return spans
    if spans and spans[-1].version == holder.version:
        spans[-1] = replace(spans[-1], end=None, inferred=False)
    else:
        start = max(holder.created, spans[-1].start if spans else holder.created)
        if spans:
            spans[-1] = replace(spans[-1], end=start)
        spans.append(AliasSpan(alias, holder.version, start, None, inferred=False))
    return spans


def duration(seconds: float) -> str:
    """A duration in words: minutes under 90 min, hours under 48 h, else days."""
    seconds = max(0.0, seconds)
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"


def status_text(
    watch: Watch,
    measurements: Sequence[Measurement],
    triggers: Sequence[Trigger],
    now: float,
    holder: str | None = None,
) -> tuple[str, bool]:
    """The monitor's status in words, and whether the model is healthy by it.

    ``holder``: the version the monitor's alias names now; when it was measured, only its measurements count
    (the monitor reads that version), else the newest measurement of any version does.
    """
    points = sorted(measurements, key=lambda m: m.time)
    if holder is not None and any(point.version == holder for point in points):
        points = [point for point in points if point.version == holder]
    if not points:
        return (
            f"no measurement of {watch.metric} yet: a monitoring step must log it in the MLflow experiment "
            f"{watch.experiment!r} with the tags dagsmith.model_name and dagsmith.model_version (see the README)",
            True,
        )
    if math.isnan(watch.threshold):
        return f"the Monitor node {watch.node!r} has no threshold: set its threshold field", True
    latest = points[-1]
    shown = f"{watch.metric} {latest.value:g} (v{latest.version})"
    if not crossed(latest.value, watch):
        side = "above" if watch.trigger_when == "below" else "below"
        return f"healthy: {shown} is {side} the threshold {watch.threshold:g}", True
    since = latest.time
    for point in reversed(points):
        if not crossed(point.value, watch):
            break
        since = point.time
    parts = [f"{shown} is {watch.trigger_when} the threshold {watch.threshold:g} since {duration(now - since)}"]
    last = max(triggers, key=lambda t: t.time) if triggers else None
    if last is None:
        parts.append(f"no retraining of {watch.retrain_dag_id} was triggered yet")
    elif last.time < since:
        run = last.triggered_run_id or last.run_id
        parts.append(f"no retraining was triggered since (the last one, run {run}, {duration(now - last.time)} ago)")
    else:
        run = last.triggered_run_id or last.run_id
        parts.append(f"retraining was triggered {duration(now - last.time)} ago (run {run})")
        ends = last.time + watch.cooldown_hours * 3600 - now
        if ends > 0:
            parts.append(f"the cooldown ends in {duration(ends)}")
        else:
            parts.append("the cooldown is over: the monitor's next run may trigger again")
    return "; ".join(parts), False


def model_health(
    model: WatchedModel,
    versions: Sequence[Version],
    measurements: dict[str, list[Measurement]],
    triggers: dict[str, list[Trigger]],
    now: float,
) -> ModelHealth:
    """The dashboard's model for one registered model.

    ``measurements`` and ``triggers`` are keyed by the monitor node's id; ``versions`` carry the first
    gate's evaluation metric (as the gate saw it: from the version's source run).
    """
    panels: list[Panel] = []
    for watch in model.monitors:
        points = sorted(measurements.get(watch.node, []), key=lambda m: m.time)
        series: dict[str, list[tuple[float, float]]] = {}
        for point in points:
            series.setdefault(point.version, []).append((point.time, point.value))
        ordered = dict(sorted(series.items(), key=lambda item: _version_key(item[0])))
        fired = sorted(triggers.get(watch.node, []), key=lambda t: t.time)
        if watch.source == "drift" and not points:
            status = (
                f"no drift of {watch.metric} recorded yet: the monitor logs each measurement in the MLflow experiment "
                f"{watch.experiment!r} (monitors exported before it did record only their triggers); "
            )
            status += f"{len(fired)} retraining trigger(s) recorded" if fired else "no trigger recorded"
            panels.append(Panel(watch, {}, fired, alias_spans([], versions, watch.alias), status, True))
            continue
        holder = next((v.version for v in versions if watch.alias in v.aliases), None)
        status, healthy = status_text(watch, points, fired, now, holder)
        panels.append(Panel(watch, ordered, fired, alias_spans(points, versions, watch.alias), status, healthy))
    gate = model.gates[0] if model.gates else None
    note = "" if model.monitors else "no Monitor node watches this model: add one to chart its metric over time"
    return ModelHealth(model.name, panels, version_rows(versions, gate), gate.metric if gate else None, note)


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)
