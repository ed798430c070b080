"""Monitor step: measure a quality or drift metric and decide whether to trigger retraining.

Reports ``trigger``; the DAG's short-circuit task reads it and runs the retraining trigger only
when it is true.
"""

from __future__ import annotations

import math

from runtime import (  # dagsmith: not embedded
    config,
    fail,
    input_path,
    log,
    mlflow_client,
    need,
    read_table,
    report,
    value,
)


def population_stability(reference: list[float], current: list[float], bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (numbers), over reference deciles."""
    ordered = sorted(reference)
    if not ordered or not current:
        fail("drift needs non-empty reference and current data")
    edges = [ordered[min(len(ordered) - 1, (len(ordered) * i) // bins)] for i in range(1, bins)]

    def shares(values: list[float]) -> list[float]:
        counts = [0] * bins
        for item in values:
            counts[sum(1 for edge in edges if item > edge)] += 1
        return [max(count / len(values), 1e-6) for count in counts]

    expected, actual = shares(reference), shares(current)
    return sum((a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True))


def should_trigger(measured: float, threshold: float, when: str) -> bool:
    """True when ``measured`` crossed ``threshold`` in the watched direction."""
    return measured < threshold if when == "below" else measured > threshold


def main() -> None:
    """Measure, log the value and the decision, report them."""
    cfg = config()
    metric = cfg["metric"]
    if cfg["source"] == "drift":
        reference = read_table(need(input_path("reference"), "connect the 'reference' input"))
        current = read_table(need(input_path("current"), "connect the 'current' input"))
        measured = population_stability(reference[metric].dropna().tolist(), current[metric].dropna().tolist())
    else:
        upstream = value("model")
        upstream_name = upstream.get("name") if isinstance(upstream, dict) else None
        name = need(
            cfg["model_name"] or upstream_name, "no model name: set it on the node or connect a registered model"
        )
        client = mlflow_client()
        version = client.get_model_version_by_alias(name, cfg["model_alias"])
        metrics = client.get_run(version.run_id).data.metrics
        if metric not in metrics:
            fail(name + "@" + cfg["model_alias"] + " has no metric " + repr(metric))
        measured = float(metrics[metric])
    trigger = should_trigger(measured, cfg["threshold"], cfg["trigger_when"])
    log(metric + "=" + str(measured) + " threshold " + cfg["trigger_when"] + " " + str(cfg["threshold"]))
    log("decision: " + ("TRIGGER RETRAINING" if trigger else "no retraining"))
    report({"metrics": {"metric": metric, "value": measured, "threshold": cfg["threshold"]}, "trigger": trigger})


if __name__ == "__main__":
    main()
