"""Measure the serving model on today's traffic and log the result where the monitor reads it.

Reads today's impressions with their features (``DAGSMITH_INPUT_FEATURES``), scores them with
``models:/<model>@champion``, and logs ``online_ndcg`` in a run of the MLflow experiment ``--experiment``
tagged ``dagsmith.model_name`` and ``dagsmith.model_version``: the monitoring metric of the step contract
(codegen/CONTRACT.md), which the monitor step reads. The champion's training run is left as it was.
Reports the evaluated model version: ``{"model": {"name", "version", "alias"}}``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from sklearn.metrics import ndcg_score


def main() -> None:
    """Score, log the metric in a monitoring run, report the model."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="keyword-recommender")
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--experiment", default="keyword-monitoring")
    args = parser.parse_args()
    client = MlflowClient()
    version = client.get_model_version_by_alias(args.model, args.alias)
    model = mlflow.pyfunc.load_model(f"models:/{args.model}/{version.version}")
    traffic = pd.read_parquet(os.environ["DAGSMITH_INPUT_FEATURES"])
    scores = model.predict(traffic)
    value = float(ndcg_score([traffic["label"].to_numpy()], [scores], k=100))
    mlflow.set_experiment(args.experiment)
    tags = {"dagsmith.model_name": args.model, "dagsmith.model_version": str(version.version)}
    with mlflow.start_run(run_name=f"online {args.model} v{version.version}", tags=tags):
        mlflow.log_metric("online_ndcg", value)
        mlflow.log_param("impressions", len(traffic))
    print(f"{args.model} v{version.version} @{args.alias}: online_ndcg={value:.4f} on {len(traffic)} impressions")
    xcom = Path(os.environ.get("DAGSMITH_XCOM_FILE") or "/airflow/xcom/return.json")
    xcom.parent.mkdir(parents=True, exist_ok=True)
    model_value = {"name": args.model, "version": str(version.version), "alias": args.alias}
    xcom.write_text(json.dumps({"model": model_value}))


if __name__ == "__main__":
    main()
