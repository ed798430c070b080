"""Feast definitions for the article workload: article statistics and user profiles."""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float32

user = Entity(name="user", join_keys=["user_id"], description="A reader")
article = Entity(name="article", join_keys=["article_id"], description="An article that can be recommended")

article_stats = FeatureView(
    name="article_stats",
    entities=[article],
    ttl=timedelta(days=36500),
    schema=[Field(name="views_7d", dtype=Float32), Field(name="ctr_7d", dtype=Float32)],
    source=FileSource(path="data/article_stats.parquet", timestamp_field="event_timestamp"),
)
user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=timedelta(days=36500),
    schema=[Field(name="tech_affinity", dtype=Float32), Field(name="sessions_7d", dtype=Float32)],
    source=FileSource(path="data/user_profile.parquet", timestamp_field="event_timestamp"),
)
