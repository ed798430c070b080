"""Model gate step: decide whether the candidate may replace the champion; the alias does not move here.

Reports ``passed`` (the DAG's short-circuit task reads it and skips the deploy branch when false),
``approved`` (the version that serves once the branch succeeds) and ``decision``, which the promote
step (``promote_model``) enacts after the Bento is built and the deployment has rolled out.
"""

from __future__ import annotations

from typing import Any

from dagsmith_steps.runtime import config, fail, log, mlflow_client, need, report, value  # dagsmith: not embedded


def decide(candidate: float, champion: float | None, cfg: dict[str, Any]) -> tuple[bool, list[str]]:
    """``(passed, reasons)`` for a candidate and champion metric value (champion None: no champion)."""
    maximize = cfg["direction"] == "maximize"
    reasons = []
    passed = True
    threshold = cfg.get("threshold")
    if threshold is not None:
        ok = candidate >= threshold if maximize else candidate <= threshold
        passed = passed and ok
        reasons.append(("reaches" if ok else "misses") + " the threshold " + str(threshold))
    if cfg["compare_to_champion"]:
        if champion is None:
            reasons.append("there is no champion yet")
        else:
            improvement = candidate - champion if maximize else champion - candidate
            ok = improvement > 0 and improvement >= cfg["min_improvement"]
            passed = passed and ok
            reasons.append(("beats" if ok else "does not beat") + " the champion by " + str(improvement))
    return passed, reasons


def _version(client: Any, name: str, alias: str) -> Any:
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:  # MLflow raises a generic error for a missing alias
        return None


def main() -> None:
    """Compare, log both values and the decision, report it (the promote step moves the alias)."""
    cfg = config()
    client = mlflow_client()
    upstream = value("candidate") or {}
    name = need(
        upstream.get("name") if isinstance(upstream, dict) else None,
        "the upstream step reported no registered model name for the 'candidate' input",
    )
    candidate = need(
        _version(client, name, cfg["candidate_alias"]),
        name + " has no version with the alias @" + cfg["candidate_alias"],
    )
    metric = cfg["metric"]
    metrics = value("metrics")
    if isinstance(metrics, dict) and "run_id" in metrics:
        metrics = client.get_run(metrics["run_id"]).data.metrics
    if not isinstance(metrics, dict) or metric not in metrics:
        metrics = client.get_run(candidate.run_id).data.metrics
    if metric not in metrics:
        fail("the candidate's run has no metric " + repr(metric))
    candidate_value = float(metrics[metric])
    champion = _version(client, name, cfg["champion_alias"])
    champion_value = None
    if champion is not None:
        champion_value = client.get_run(champion.run_id).data.metrics.get(metric)
    passed, reasons = decide(candidate_value, champion_value, cfg)
    log("candidate " + name + " v" + str(candidate.version) + " " + metric + "=" + str(candidate_value))
    champion_name = ("v" + str(champion.version)) if champion else "(none)"
    log("champion " + champion_name + " " + metric + "=" + str(champion_value))
    log("decision: " + ("PROMOTE" if passed else "KEEP CHAMPION") + " (candidate " + "; ".join(reasons) + ")")
    serving = candidate if passed else champion
    if passed:
        log("@" + cfg["champion_alias"] + " moves to v" + str(candidate.version) + " once the deploy branch succeeds")
    decision = {
        "promote": passed,
        "name": name,
        "version": str(candidate.version),
        "alias": cfg["champion_alias"],
        "previous": str(champion.version) if champion else None,
    }
    report(
        {
            "passed": passed,
            "decision": decision,
            "approved": {
                "name": name,
                "version": str(serving.version) if serving else None,
                "alias": cfg["champion_alias"],
            },
            "metrics": {"metric": metric, "candidate": candidate_value, "champion": champion_value},
        }
    )


if __name__ == "__main__":
    main()
