"""The article recommender as a BentoML service: read probabilities, and the best articles for a reader.

Built by the ``bentoml_build`` step from the best trial that passed the gate and served by
``bentoml_deploy``.
"""

from __future__ import annotations

from typing import Any

import bentoml
import pandas as pd

MODEL = bentoml.models.BentoModel("article-recommender")


@bentoml.service(workers=1, traffic={"timeout": 60})
class ArticleService:
    """Scores (reader, article) feature rows."""

    model_ref = MODEL

    def __init__(self) -> None:
        self.model: Any = bentoml.mlflow.load_model(self.model_ref)

    @bentoml.api
    def predict(self, rows: list[dict[str, float]]) -> list[float]:
        """The read probability of each row (views_7d, ctr_7d, tech_affinity, sessions_7d)."""
        return [float(score) for score in self.model.predict(pd.DataFrame(rows))]

    @bentoml.api
    def recommend(self, reader: dict[str, float], articles: dict[str, dict[str, float]], k: int = 3) -> list[str]:
        """The ``k`` articles (by title) this reader most likely reads, best first."""
        titles = list(articles)
        scores = self.model.predict(pd.DataFrame([{**reader, **articles[title]} for title in titles]))
        ranked = sorted(zip(titles, scores, strict=True), key=lambda item: -float(item[1]))
        return [title for title, _ in ranked[:k]]
