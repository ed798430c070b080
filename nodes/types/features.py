"""Features family: Feast historical retrieval and online-store materialization."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import Field

from ..issues import Code
from ..ports import PortType
from .base import Family, NodeType, Problem, port

_FEATURE_REF = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*$"


class FeatureRetrieval(NodeType):
    """Fetch point-in-time correct historical features for an entity dataset from Feast."""

    kind = "feature_retrieval"
    family = Family.FEATURES
    title = "Feature retrieval"
    summary = "Historical features from a Feast feature service or feature references"
    in_ports = (port("entities", PortType.DATASET, "Entity rows with event timestamps"),)
    out_ports = (port("features", PortType.FEATURES, "Entity rows joined with their features"),)

    feast_repo: str = Field(
        min_length=1, description="Feast feature repository (path in the image or URI)", examples=["/feast/repo"]
    )
    feature_service: str = Field("", description="Feature service name", examples=["keyword_features"])
    features: list[str] = Field(
        default_factory=list,
        description="Feature references 'view:feature' (instead of a feature service)",
        examples=[["user_stats:clicks_7d"]],
    )
    entity_source: str = Field("", description="Entity dataset path or URI, when no 'entities' input is connected")
    event_timestamp_column: str = Field("event_timestamp", min_length=1)
    full_feature_names: bool = Field(False, description="Prefix feature columns with their view name")

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """Exactly one of feature service and feature list; an entity source from an edge or a path."""
        if not self.feature_service and not self.features:
            yield Problem(
                "feature_service", "choose a feature service, or list feature references", Code.MISSING_PARAMETER
            )
        elif self.feature_service and self.features:
            yield Problem("features", "use either a feature service or feature references, not both; clear one")
        for index, ref in enumerate(self.features):
            if not re.fullmatch(_FEATURE_REF, ref):
                yield Problem(
                    f"features.{index}",
                    f"{ref!r} is not a feature reference; write 'feature_view:feature', e.g. 'user_stats:clicks_7d'",
                )
        if "entities" not in connected and not self.entity_source:
            yield Problem(
                "entity_source",
                "connect an entity dataset to the 'entities' input, or enter the entity dataset's path",
                Code.MISSING_PARAMETER,
            )


class FeatureMaterialize(NodeType):
    """Load the latest feature values into Feast's online store for serving."""

    kind = "feature_materialize"
    family = Family.FEATURES
    title = "Feature materialize"
    summary = "Materialize feature views to the online store"
    in_ports = (port("upstream", PortType.ANY, "Steps to wait for", multiple=True),)
    out_ports = (port("materialized", PortType.SIGNAL, "Done when the online store is up to date"),)

    feast_repo: str = Field(min_length=1, description="Feast feature repository", examples=["/feast/repo"])
    feature_views: list[str] = Field(default_factory=list, description="Feature views (empty: all)")
    incremental: bool = Field(True, description="Materialize only what is new since the last run")
    start: str = Field("{{ data_interval_start }}", description="Start of the window (non-incremental)")
    end: str = Field("{{ data_interval_end }}", description="End of the window")
