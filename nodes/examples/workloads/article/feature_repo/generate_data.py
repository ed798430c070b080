"""Write the article workload's feature data (small, deterministic) into ./data of the repository copy.

Each article has a hidden "tech" share and each user a hidden taste for it (fixed functions of the ids,
shared with ``make_entities.py``); the features measure them with noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

USERS, ARTICLES = 300, 120
SINCE = pd.Timestamp("2020-01-01", tz="UTC")


def tech_share(article_id: np.ndarray) -> np.ndarray:
    """How technical an article is, in [0, 1)."""
    return (article_id * 6007 % 983) / 983


def tech_taste(user_id: np.ndarray) -> np.ndarray:
    """How much a user likes technical articles, in [0, 1)."""
    return (user_id * 3571 % 977) / 977


def main() -> None:
    """Write data/article_stats.parquet and data/user_profile.parquet."""
    rng = np.random.default_rng(2027)
    data = Path("data")
    data.mkdir(exist_ok=True)
    articles = np.arange(1, ARTICLES + 1)
    users = np.arange(1, USERS + 1)
    share = tech_share(articles)
    pd.DataFrame(
        {
            "article_id": articles,
            "views_7d": (100 + 900 * rng.random(ARTICLES)).astype("float32"),
            "ctr_7d": (0.05 + 0.05 * share + rng.normal(0, 0.005, ARTICLES)).astype("float32"),
            "event_timestamp": SINCE,
        }
    ).to_parquet(data / "article_stats.parquet", index=False)
    pd.DataFrame(
        {
            "user_id": users,
            "tech_affinity": (tech_taste(users) + rng.normal(0, 0.05, USERS)).astype("float32"),
            "sessions_7d": (1 + 20 * rng.random(USERS)).astype("float32"),
            "event_timestamp": SINCE,
        }
    ).to_parquet(data / "user_profile.parquet", index=False)


if __name__ == "__main__":
    main()
