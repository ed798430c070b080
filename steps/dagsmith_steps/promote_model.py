"""Promote step: move the champion alias to the version the gate approved, once it serves.

The gate only decides (its ``decision`` value names the model, the approved version and the alias);
this step runs after the deploy branch has built the Bento and rolled the deployment out, or right after
the gate when the pipeline deploys nothing. A failed build or deploy skips it, so the alias keeps naming
the version that serves. The move is recorded on the version (a ``dagsmith.alias_move.`` tag, see
``runtime.move_alias``), so the model health page knows who held the alias when.
"""

from __future__ import annotations

from typing import Any

from dagsmith_steps.runtime import (  # dagsmith: not embedded
    alias_holder,
    config,
    log,
    mlflow_client,
    move_alias,
    need,
    value,
)


def current_version(client: Any, name: str, alias: str) -> str | None:
    """The version an alias names now (None when it names none)."""
    return alias_holder(client, name, alias)


def main() -> None:
    """Set the champion alias on the approved version (recording the move); log what it named before."""
    cfg = config()
    decision = value("decision")
    decision = need(decision if isinstance(decision, dict) else None, "the gate reported no decision")
    if not decision.get("promote"):
        log("the gate kept the champion; nothing to promote")
        return
    name = need(decision.get("name"), "the gate's decision names no model")
    version = str(need(decision.get("version"), "the gate's decision names no version"))
    alias = cfg["champion_alias"]
    client = mlflow_client()
    before = current_version(client, name, alias)
    if before is not None and before != decision.get("previous") and before != version:
        log("warning: @" + alias + " moved to v" + before + " since the gate compared against it; promoting anyway")
    before = move_alias(client, name, alias, version)
    log(
        "promoted "
        + name
        + " v"
        + version
        + " to @"
        + alias
        + " (it named "
        + ("v" + before if before else "none")
        + ")"
    )


if __name__ == "__main__":
    main()
