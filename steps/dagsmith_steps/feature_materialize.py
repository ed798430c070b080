"""Feature materialize step: load feature values into Feast's online store."""

from __future__ import annotations

from datetime import datetime, timezone

from dagsmith_steps.runtime import config, fail, log  # dagsmith: not embedded


def parse_time(text: str, field: str) -> datetime:
    """An aware datetime from ISO text (UTC when no zone is given)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(field + " is not an ISO date or time: " + repr(text))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # noqa: UP017  (images may run Python 3.10)


def main() -> None:
    """Materialize the feature views (all when none are named), incrementally or over a window."""
    from feast import FeatureStore

    cfg = config()
    store = FeatureStore(repo_path=cfg["feast_repo"])
    views = list(cfg["feature_views"]) or None
    end = parse_time(cfg["end"], "end")
    if cfg["incremental"]:
        log("materializing incrementally up to " + end.isoformat())
        store.materialize_incremental(end_date=end, feature_views=views)
    else:
        start = parse_time(cfg["start"], "start")
        log("materializing " + start.isoformat() + " .. " + end.isoformat())
        store.materialize(start_date=start, end_date=end, feature_views=views)


if __name__ == "__main__":
    main()
