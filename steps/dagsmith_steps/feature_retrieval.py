"""Feature retrieval step: point-in-time correct historical features from Feast."""

from __future__ import annotations

from typing import Any

from dagsmith_steps.runtime import (  # dagsmith: not embedded
    config,
    input_path,
    log,
    output_path,
    read_table,
    write_table,
)


def main() -> None:
    """Join the entity rows with their features and write them (Parquet) to the 'features' output."""
    from feast import FeatureStore

    cfg = config()
    store = FeatureStore(repo_path=cfg["feast_repo"])
    source = input_path("entities") or cfg["entity_source"]
    entities = read_table(source)
    log("entity rows: " + str(len(entities)) + " from " + source)
    if cfg["feature_service"]:
        features: Any = store.get_feature_service(cfg["feature_service"])
    else:
        features = list(cfg["features"])
    job = store.get_historical_features(
        entity_df=entities,
        features=features,
        full_feature_names=bool(cfg["full_feature_names"]),
    )
    write_table(job.to_df(), output_path("features"))


if __name__ == "__main__":
    main()
