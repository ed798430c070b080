"""One hyper-parameter trial of the article model (a tiny CPU gradient-boosted tree model).

The search step starts it with ``--name=value`` flags and ``MLFLOW_RUN_ID`` (the trial's run, which
``mlflow.start_run()`` resumes). It reads ``DAGSMITH_INPUT_DATASET``, logs ``val_auc`` and the model (a
pyfunc that returns read probabilities) to that run.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

FEATURES = ["views_7d", "ctr_7d", "tech_affinity", "sessions_7d"]


class ReadModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Read probability for rows holding the feature columns (other columns are ignored)."""

    def __init__(self, estimator: Any, features: list[str]) -> None:
        self.estimator = estimator
        self.features = features

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """The probability that each row's user reads the article."""
        return self.estimator.predict_proba(model_input[self.features].astype("float64"))[:, 1]


def main() -> None:
    """Train with the trial's parameters, evaluate, log to the trial's run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--max_iter", type=int, default=50)
    args = parser.parse_args()
    began = time.time()
    frame = pd.read_parquet(os.environ["DAGSMITH_INPUT_DATASET"]).dropna(subset=FEATURES)
    frame = frame.sort_values(["user_id", "article_id", "event_timestamp"]).reset_index(drop=True)
    validation = np.random.default_rng(0).random(len(frame)) < 0.3
    train, val = frame[~validation], frame[validation]
    estimator = HistGradientBoostingClassifier(
        learning_rate=args.learning_rate, max_depth=args.max_depth, max_iter=args.max_iter, random_state=0
    )
    estimator.fit(train[FEATURES].astype("float64"), train["label"])
    model = ReadModel(estimator, FEATURES)
    val_auc = float(roc_auc_score(val["label"], model.predict(None, val)))
    with mlflow.start_run():  # resumes MLFLOW_RUN_ID, the trial's run
        mlflow.log_metrics({"val_auc": val_auc, "train_seconds": time.time() - began})
        mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            input_example=val[FEATURES].astype("float64").head(3),
            pip_requirements=["mlflow", "scikit-learn", "pandas"],
        )
    print(f"trial {os.environ.get('DAGSMITH_TRIAL_INDEX')}: {vars(args)} val_auc={val_auc:.4f}")


if __name__ == "__main__":
    main()
