"""Train the conversion model (a tiny CPU model) on the Feast features and log it to MLflow.

The local form of the template's training notebook (running a notebook needs a Jupyter kernel).
Reads ``DAGSMITH_INPUT_FEATURES``, logs ``val_auc`` and the model (a pyfunc that returns conversion
probabilities), and reports its run: ``{"run": {"run_id": ...}}``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

FEATURES = ["sessions_30d", "purchases_90d", "days_since_visit"]


class ConversionModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Conversion probability for rows holding the feature columns (other columns are ignored)."""

    def __init__(self, estimator: Any, features: list[str]) -> None:
        self.estimator = estimator
        self.features = features

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """The probability that each user converts."""
        return self.estimator.predict_proba(model_input[self.features].astype("float64"))[:, 1]


def main() -> None:
    """Train, evaluate, log and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-depth", type=int, default=4)
    parser.add_argument("--n-estimators", type=int, default=60)
    args = parser.parse_args()
    frame = pd.read_parquet(os.environ["DAGSMITH_INPUT_FEATURES"]).sort_values("user_id").reset_index(drop=True)
    validation = np.random.default_rng(0).random(len(frame)) < 0.3
    train, val = frame[~validation], frame[validation]
    estimator = RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=0)
    estimator.fit(train[FEATURES].astype("float64"), train["label"])
    model = ConversionModel(estimator, FEATURES)
    val_auc = float(roc_auc_score(val["label"], model.predict(None, val)))
    mlflow.set_experiment(os.environ.get("DAGSMITH_DAG_ID") or "user_targeting")
    with mlflow.start_run() as run:
        mlflow.log_params(vars(args))
        mlflow.log_metric("val_auc", val_auc)
        mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            input_example=val[FEATURES].astype("float64").head(3),
            pip_requirements=["mlflow", "scikit-learn", "pandas"],
        )
    print(f"run {run.info.run_id}: val_auc={val_auc:.4f}")
    xcom = Path(os.environ.get("DAGSMITH_XCOM_FILE") or "/airflow/xcom/return.json")
    xcom.parent.mkdir(parents=True, exist_ok=True)
    xcom.write_text(json.dumps({"run": {"run_id": run.info.run_id}}))


if __name__ == "__main__":
    main()
