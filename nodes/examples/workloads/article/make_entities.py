"""Write a week of (user, article) impressions with their reads: the entity rows for Feast.

The output goes to ``DAGSMITH_OUTPUT_ENTITIES`` (Parquet). A read is likely when the user's taste for
technical articles matches the article's technical share (hidden functions shared with
``feature_repo/generate_data.py``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

USERS, ARTICLES = 300, 120


def main() -> None:
    """Parse the arguments and write the rows."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    users = rng.integers(1, USERS + 1, args.rows)
    articles = rng.integers(1, ARTICLES + 1, args.rows)
    share = (articles * 6007 % 983) / 983
    taste = (users * 3571 % 977) / 977
    match = 1 - np.abs(share - taste)
    read = rng.random(args.rows) < 1 / (1 + np.exp(-(10 * match - 7.5)))
    moment = pd.Timestamp(os.environ.get("DAGSMITH_LOGICAL_DATE") or pd.Timestamp.now(tz="UTC"))
    # One impression per second: Feast joins on (entity, timestamp), so rows must not share both.
    stamps = moment + pd.to_timedelta(np.arange(args.rows), unit="s")
    rows = pd.DataFrame(
        {"user_id": users, "article_id": articles, "event_timestamp": stamps, "label": read.astype(int)}
    )
    out = Path(os.environ["DAGSMITH_OUTPUT_ENTITIES"])
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out, index=False)
    print(f"wrote {len(rows)} impressions ({int(rows.label.sum())} reads) to {out}")


if __name__ == "__main__":
    main()
