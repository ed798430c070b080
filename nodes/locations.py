"""Where each output lands: the path template and naming format filled in, for previews and checks.

An output is stored at ``<artifact root>/<path template>/<naming format>`` (the output's own settings or
the pipeline's defaults). Placeholders known at export (``{pipeline}``, ``{dag_id}``, ``{node}``,
``{task_id}``, ``{output}``, ``{version}``) are filled from the document; run-time ones (``{run_id}``,
``{ds}``, ``{ds_nodash}``, ``{ts_nodash}``, ``{logical_date}``) from the values given: example values
for the editor's preview, or symbols for validation, which compares templates with run-time values held
symbolic. ``codegen.artifacts`` writes the same rule into the DAG with Airflow macros.

Safe keys: ``{run_id}`` and ``{logical_date}`` become object-store keys, each ``:``, ``+`` and ``~`` made
``_`` (``safe_key``); user text in templates may not hold them (validation refuses it).
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from .document import Node, Pipeline, slug

RUNTIME_PLACEHOLDERS = ("run_id", "ds", "ds_nodash", "ts_nodash", "logical_date")
"""Placeholders whose value is known only when a run starts."""

EXAMPLE_RUN: dict[str, str] = {
    "run_id": "manual__2026-01-02T03:04:05+00:00",
    "ds": "2026-01-02",
    "ds_nodash": "20260102",
    "ts_nodash": "20260102T030405",
    "logical_date": "2026-01-02T03:04:05+00:00",
}
"""Example run values for the editor's preview (a manual run on 2 January 2026)."""

UNSAFE_KEY_CHARS = (":", "+", "~")
"""Characters made ``_`` in run-time values that enter a path (``safe_key``)."""


def safe_key(value: str) -> str:
    """A run-time value made safe in object keys and paths: each ``:``, ``+`` and ``~`` becomes ``_``."""
    for char in UNSAFE_KEY_CHARS:
        value = value.replace(char, "_")
    return value


def templates(pipeline: Pipeline, node: Node, port: str) -> tuple[str, str, str, str]:
    """The output's path template and naming format, and the field each comes from."""
    settings = pipeline.settings
    stored = node.outputs.get(port)
    if stored is not None and stored.path is not None:
        folder, folder_field = stored.path, f"outputs.{port}.path"
    else:
        folder, folder_field = settings.path_template, "settings.path_template"
    if stored is not None and stored.naming is not None:
        name, name_field = stored.naming, f"outputs.{port}.naming"
    else:
        name, name_field = settings.naming_format, "settings.naming_format"
    return folder, folder_field, name, name_field


def static_values(pipeline: Pipeline, node: Node, port: str, version: int) -> dict[str, str]:
    """The placeholders known at export, for ``node``'s output ``port`` at ``version``."""
    task_id = node.task_id()
    return {
        "pipeline": slug(pipeline.settings.name) or pipeline.dag_id,
        "dag_id": pipeline.dag_id,
        "node": slug(node.id) or task_id,
        "task_id": task_id,
        "output": port,
        "version": str(version),
    }


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each placeholder replaced by its value; unknown or malformed ones kept as typed."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return template
    parts: list[str] = []
    for literal, name, _, _ in parsed:
        parts.append(literal)
        if name is not None:
            parts.append(values.get(name, "{" + name + "}"))
    return "".join(parts)


def location(
    pipeline: Pipeline, node: Node, port: str, *, run: Mapping[str, str] = EXAMPLE_RUN, version: int = 1
) -> str:
    """Where ``node``'s output ``port`` lands for a run with the values ``run`` (safe keys applied)."""
    values = static_values(pipeline, node, port, version)
    values.update({name: safe_key(value) for name, value in run.items()})
    folder, _, name, _ = templates(pipeline, node, port)
    root = pipeline.settings.artifact_root.rstrip("/")
    folder_part = fill(folder.strip("/"), values)
    name_part = fill(name.strip("/"), values)
    return "/".join(part for part in (root, folder_part, name_part) if part)


SYMBOLIC_RUN: dict[str, str] = {name: "\x00" + name + "\x00" for name in RUNTIME_PLACEHOLDERS}
"""Run-time placeholders held symbolic: two outputs clash in one run when their symbolic locations are equal."""


def symbolic_location(pipeline: Pipeline, node: Node, port: str) -> str:
    """The output's location with the run-time placeholders as symbols (the same for every run)."""
    return location(pipeline, node, port, run=SYMBOLIC_RUN)


def relative_location(pipeline: Pipeline, node: Node, port: str, *, run: Mapping[str, str]) -> str:
    """The output's location under the root (the object key below the store's prefix)."""
    full = location(pipeline, node, port, run=run)
    root = pipeline.settings.artifact_root.rstrip("/")
    return full[len(root) :].lstrip("/") if full.startswith(root) else full


def preview(pipeline: Pipeline, node_id: str, port: str) -> str:
    """The editor's live preview of where ``node_id``'s output ``port`` lands in an example run ('' if gone)."""
    node = pipeline.node(node_id)
    if node is None:
        return ""
    return "lands at " + location(pipeline, node, port) + "  (example run " + EXAMPLE_RUN["run_id"] + ")"
