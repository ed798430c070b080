"""Train the keyword click model (a tiny CPU model) on the Feast features and log it to MLflow.

Reads ``DAGSMITH_INPUT_FEATURES``, logs parameters, ``val_ndcg``/``val_auc`` and the model (a pyfunc that
returns click probabilities), and reports its run as the contract says: ``{"run": {"run_id": ...}}``.
``--label-noise`` flips that share of the training labels: a deliberately worse candidate.
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
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import ndcg_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["clicks_7d", "searches_7d", "ctr_7d", "popularity"]


class ClickModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Click probability for rows holding the feature columns (other columns are ignored)."""

    def __init__(self, estimator: Any, features: list[str]) -> None:
        self.estimator = estimator
        self.features = features

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """The probability of a click for each row."""
        return self.estimator.predict_proba(model_input[self.features].astype("float64"))[:, 1]


def main() -> None:
    """Train, evaluate, log and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--label-noise", type=float, default=0.0)
    args = parser.parse_args()
    frame = pd.read_parquet(os.environ["DAGSMITH_INPUT_FEATURES"]).sort_values(["user_id", "keyword_id"])
    frame = frame.dropna(subset=FEATURES).reset_index(drop=True)
    rng = np.random.default_rng(0)
    validation = rng.random(len(frame)) < 0.3
    train, val = frame[~validation], frame[validation]
    labels = train["label"].to_numpy()
    flip = rng.random(len(labels)) < args.label_noise
    labels = np.where(flip, 1 - labels, labels)
    estimator = make_pipeline(
        StandardScaler(),
        SGDClassifier(
            loss="log_loss", learning_rate="constant", eta0=args.lr, max_iter=args.epochs, tol=None, random_state=0
        ),
    )
    estimator.fit(train[FEATURES].astype("float64"), labels)
    model = ClickModel(estimator, FEATURES)
    scores = model.predict(None, val)
    metrics = {
        "val_ndcg": float(ndcg_score([val["label"].to_numpy()], [scores], k=100)),
        "val_auc": float(roc_auc_score(val["label"], scores)),
    }
    mlflow.set_experiment(os.environ.get("DAGSMITH_DAG_ID") or "keyword_recommendation")
    with mlflow.start_run() as run:
        mlflow.log_params(vars(args))
        mlflow.log_metrics(metrics)
        mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            input_example=val[FEATURES].astype("float64").head(3),
            pip_requirements=["mlflow", "scikit-learn", "pandas"],
        )
    print(f"run {run.info.run_id}: {json.dumps(metrics)}")
    xcom = Path(os.environ.get("DAGSMITH_XCOM_FILE") or "/airflow/xcom/return.json")
    xcom.parent.mkdir(parents=True, exist_ok=True)
    xcom.write_text(json.dumps({"run": {"run_id": run.info.run_id}}))


if __name__ == "__main__":
    main()
