"""Write the campaign's entity rows: past users with whether they converted, and today's active users.

Outputs (Parquet): ``DAGSMITH_OUTPUT_LABELS`` (users of past campaigns with ``label``) and
``DAGSMITH_OUTPUT_ACTIVE`` (the users to score). Conversions follow a hidden propensity shared with
``feature_repo/generate_data.py``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

USERS = 500


def _write(frame: pd.DataFrame, variable: str) -> None:
    out = Path(os.environ[variable])
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    print(f"wrote {len(frame)} rows to {out}")


def main() -> None:
    """Parse the arguments and write both entity sets."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    moment = pd.Timestamp(os.environ.get("DAGSMITH_LOGICAL_DATE") or pd.Timestamp.now(tz="UTC"))
    past = rng.choice(np.arange(1, USERS + 1), size=400, replace=False)
    hidden = (past * 7321 % 991) / 991
    converted = rng.random(len(past)) < 1 / (1 + np.exp(-(9 * hidden - 5)))
    labels = pd.DataFrame({"user_id": past, "event_timestamp": moment, "label": converted.astype(int)})
    _write(labels, "DAGSMITH_OUTPUT_LABELS")
    active = pd.DataFrame({"user_id": np.arange(1, USERS + 1), "event_timestamp": moment})
    _write(active, "DAGSMITH_OUTPUT_ACTIVE")


if __name__ == "__main__":
    main()
