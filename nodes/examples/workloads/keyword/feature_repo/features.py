"""Feast definitions for the keyword workload: user and keyword statistics, one feature service."""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float32

user = Entity(name="user", join_keys=["user_id"], description="A searching user")
keyword = Entity(name="keyword", join_keys=["keyword_id"], description="A keyword that can be recommended")

user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=36500),
    schema=[Field(name="clicks_7d", dtype=Float32), Field(name="searches_7d", dtype=Float32)],
    source=FileSource(path="data/user_stats.parquet", timestamp_field="event_timestamp"),
)
keyword_stats = FeatureView(
    name="keyword_stats",
    entities=[keyword],
    ttl=timedelta(days=36500),
    schema=[Field(name="ctr_7d", dtype=Float32), Field(name="popularity", dtype=Float32)],
    source=FileSource(path="data/keyword_stats.parquet", timestamp_field="event_timestamp"),
)
keyword_ranker_v1 = FeatureService(name="keyword_ranker_v1", features=[user_stats, keyword_stats])
