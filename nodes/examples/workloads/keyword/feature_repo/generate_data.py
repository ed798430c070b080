"""Write the keyword workload's feature data (small, deterministic) into ./data of the repository copy.

dagsmith's local runner runs this once per workspace before ``feast apply``. Each user and keyword has
a hidden propensity (a fixed function of its id, shared with ``make_entities.py``); the features are
noisy measurements of it, so a model can learn who clicks what.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

USERS, KEYWORDS = 200, 100
SINCE = pd.Timestamp("2020-01-01", tz="UTC")


def user_propensity(user_id: np.ndarray) -> np.ndarray:
    """How likely a user is to click at all, in [0, 1)."""
    return (user_id * 7919 % 997) / 997


def keyword_quality(keyword_id: np.ndarray) -> np.ndarray:
    """How attractive a keyword is, in [0, 1)."""
    return (keyword_id * 104729 % 991) / 991


def main() -> None:
    """Write data/user_stats.parquet and data/keyword_stats.parquet."""
    rng = np.random.default_rng(2026)
    data = Path("data")
    data.mkdir(exist_ok=True)
    users = np.arange(1, USERS + 1)
    keywords = np.arange(1, KEYWORDS + 1)
    pd.DataFrame(
        {
            "user_id": users,
            "clicks_7d": (40 * user_propensity(users) + rng.normal(0, 3, USERS)).astype("float32"),
            "searches_7d": (20 + 30 * rng.random(USERS)).astype("float32"),
            "event_timestamp": SINCE,
        }
    ).to_parquet(data / "user_stats.parquet", index=False)
    pd.DataFrame(
        {
            "keyword_id": keywords,
            "ctr_7d": (0.02 + 0.1 * keyword_quality(keywords) + rng.normal(0, 0.01, KEYWORDS)).astype("float32"),
            "popularity": rng.random(KEYWORDS).astype("float32"),
            "event_timestamp": SINCE,
        }
    ).to_parquet(data / "keyword_stats.parquet", index=False)


if __name__ == "__main__":
    main()
