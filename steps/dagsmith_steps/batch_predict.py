"""Batch prediction step: score a dataset with a registered model alias and write the selected rows."""

from __future__ import annotations

from typing import Any

from dagsmith_steps.runtime import (  # dagsmith: not embedded
    config,
    input_path,
    log,
    need,
    output_path,
    read_table,
    value,
    write_table,
)


def select(frame: Any, score_column: str, threshold: float | None, top_k: int | str | None) -> Any:
    """Rows scoring at least ``threshold`` (if set), best first, at most ``top_k`` (if set)."""
    if threshold is not None:
        frame = frame[frame[score_column] >= threshold]
    frame = frame.sort_values(score_column, ascending=False, kind="stable")
    return frame.head(int(top_k)) if top_k is not None else frame  # a run-time parameter arrives as text


def main() -> None:
    """Load ``models:/<name>@<alias>``, score every row (all columns but the id), write the list."""
    import mlflow
    import pandas as pd

    cfg = config()
    upstream = value("model")
    upstream_name = upstream.get("name") if isinstance(upstream, dict) else None
    name = need(cfg["model_name"] or upstream_name, "no model name: set it on the node or connect a registered model")
    rows = read_table(need(input_path("dataset"), "the 'dataset' input is not connected"))
    model = mlflow.pyfunc.load_model("models:/" + name + "@" + cfg["model_alias"])
    scores = model.predict(rows.drop(columns=[cfg["id_column"]]))
    if hasattr(scores, "iloc") and getattr(scores, "ndim", 1) > 1:
        scores = scores.iloc[:, 0]
    result = pd.DataFrame({cfg["id_column"]: rows[cfg["id_column"]].values, cfg["score_column"]: list(scores)})
    result = select(result, cfg["score_column"], cfg["threshold"], cfg["top_k"])
    log("scored " + str(len(rows)) + " rows, kept " + str(len(result)))
    write_table(result, output_path("predictions"), cfg["output_format"])


if __name__ == "__main__":
    main()
