"""The keyword recommender as a BentoML service: click probabilities, and the best keywords for a user.

Built by the ``bentoml_build`` step from the model that passed the gate (imported from MLflow into
BentoML's model store under the registered model's name) and served by ``bentoml_deploy``.
"""

from __future__ import annotations

from typing import Any

import bentoml
import pandas as pd

MODEL = bentoml.models.BentoModel("keyword-recommender")


@bentoml.service(workers=1, traffic={"timeout": 60})
class KeywordService:
    """Scores (user, keyword) feature rows."""

    model_ref = MODEL

    def __init__(self) -> None:
        self.model: Any = bentoml.mlflow.load_model(self.model_ref)

    @bentoml.api
    def predict(self, rows: list[dict[str, float]]) -> list[float]:
        """The click probability of each row (columns clicks_7d, searches_7d, ctr_7d, popularity)."""
        return [float(score) for score in self.model.predict(pd.DataFrame(rows))]

    @bentoml.api
    def recommend(self, user: dict[str, float], keywords: dict[str, dict[str, float]], k: int = 3) -> list[str]:
        """The ``k`` keywords (by name) this user most likely clicks, best first."""
        names = list(keywords)
        rows = pd.DataFrame([{**user, **keywords[name]} for name in names])
        scores = self.model.predict(rows)
        ranked = sorted(zip(names, scores, strict=True), key=lambda item: -float(item[1]))
        return [name for name, _ in ranked[:k]]
