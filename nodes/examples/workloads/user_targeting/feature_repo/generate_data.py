"""Write the user targeting workload's feature data (small, deterministic) into ./data of the repository copy.

Each user has a hidden propensity to convert (a fixed function of the id, shared with ``make_users.py``);
the activity features are noisy signals of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

USERS = 500
SINCE = pd.Timestamp("2020-01-01", tz="UTC")


def propensity(user_id: np.ndarray) -> np.ndarray:
    """How likely a user is to convert, in [0, 1)."""
    return (user_id * 7321 % 991) / 991


def main() -> None:
    """Write data/user_activity.parquet."""
    rng = np.random.default_rng(2028)
    data = Path("data")
    data.mkdir(exist_ok=True)
    users = np.arange(1, USERS + 1)
    hidden = propensity(users)
    pd.DataFrame(
        {
            "user_id": users,
            "sessions_30d": (2 + 25 * hidden + rng.normal(0, 3, USERS)).clip(0).astype("float32"),
            "purchases_90d": rng.poisson(0.5 + 4 * hidden).astype("float32"),
            "days_since_visit": (30 * (1 - hidden) + rng.normal(0, 4, USERS)).clip(0).astype("float32"),
            "event_timestamp": SINCE,
        }
    ).to_parquet(data / "user_activity.parquet", index=False)


if __name__ == "__main__":
    main()
