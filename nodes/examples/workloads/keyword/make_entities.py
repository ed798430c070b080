"""Write one day of (user, keyword) impressions with their clicks: the entity rows for Feast.

The output goes to ``DAGSMITH_OUTPUT_ENTITIES`` (Parquet). A click depends on the user's propensity and
the keyword's quality (the same hidden functions as ``feature_repo/generate_data.py``); ``--drift 1``
inverts that relation, as if user behaviour changed, so that yesterday's model ranks badly.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

USERS, KEYWORDS = 200, 100


def main() -> None:
    """Parse the arguments and write the rows."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift", type=float, default=0.0, help="0: usual behaviour, 1: inverted preferences")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    users = rng.integers(1, USERS + 1, args.rows)
    keywords = rng.integers(1, KEYWORDS + 1, args.rows)
    appeal = 0.6 * (users * 7919 % 997) / 997 + 0.4 * (keywords * 104729 % 991) / 991
    appeal = (1 - args.drift) * appeal + args.drift * (1 - appeal)
    clicked = rng.random(args.rows) < 1 / (1 + np.exp(-(8 * appeal - 4.5)))
    moment = pd.Timestamp(os.environ.get("DAGSMITH_LOGICAL_DATE") or pd.Timestamp.now(tz="UTC"))
    # One impression per second: Feast joins on (entity, timestamp), so rows must not share both.
    stamps = moment + pd.to_timedelta(np.arange(args.rows), unit="s")
    rows = pd.DataFrame(
        {"user_id": users, "keyword_id": keywords, "event_timestamp": stamps, "label": clicked.astype(int)}
    )
    out = Path(os.environ["DAGSMITH_OUTPUT_ENTITIES"])
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out, index=False)
    print(f"wrote {len(rows)} impressions ({int(rows.label.sum())} clicks, drift {args.drift}) to {out}")


if __name__ == "__main__":
    main()
