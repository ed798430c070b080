"""Feast definitions for the user targeting workload: user activity, one feature service."""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float32

user = Entity(name="user", join_keys=["user_id"], description="A customer")

user_activity = FeatureView(
    name="user_activity",
    entities=[user],
    ttl=timedelta(days=36500),
    schema=[
        Field(name="sessions_30d", dtype=Float32),
        Field(name="purchases_90d", dtype=Float32),
        Field(name="days_since_visit", dtype=Float32),
    ],
    source=FileSource(path="data/user_activity.parquet", timestamp_field="event_timestamp"),
)
user_conversion_v2 = FeatureService(name="user_conversion_v2", features=[user_activity])
