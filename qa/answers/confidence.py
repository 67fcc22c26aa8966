"""Calibrated confidences of an answer from the reader's and the retriever's features (fitted, stored as JSON)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ModelError

FORMAT_VERSION = 2  # 2: the thresholds chosen by the fit are in the file
# Fitted by benchmarks/calibrate.py on the training sets' documents the reader never trained on
# (qa.models.reader_data.held_back; never on CMRC 2018 dev, nor on seed questions); see BENCHMARKS.md, "Answers".
CALIBRATION_FILE = Path(__file__).resolve().parent / "weights" / "confidence.json"
# One candidate span's features (qa.answers.answer.Answerer.features); the two logistic models read them in this order.
FEATURES = (
    "span_score",  # the reader's start + end logit
    "span_vs_null",  # minus its window's no-answer score
    "span_vs_best",  # minus the best candidate's span score (0 for the best)
    "rank",  # 0, 1, 2: the re-ranked passage it comes from
    "passage_gap",  # the passage's re-ranking score minus the top one's, over the top one's
    "cosine", "bm25_share", "dense_gap",  # the retrievers' scores of its passage
    "coverage", "missing_idf",  # the question's words found in its passage (IDF-weighted), the rarest one missing
    "asked_type", "type_match",  # the question asks a number/date/person/place; the span is of that type
    "in_question",  # share of the span's characters that the question holds
)


# What the article a record answer is read from (the top passage's) is judged by: retrieval alone.
ARTICLE_FEATURES = (
    "score",  # the top passage's re-ranking score, / 100
    "article_gap",  # its margin over the best passage of another article, over its score (1 when none)
    "cosine", "window", "chunk", "title",  # its re-ranking features (qa.search.rerank)
)
ARTICLE_FILE = CALIBRATION_FILE.with_name("article.json")


@dataclass(frozen=True)
class Logistic:
    intercept: float
    weights: tuple[float, ...]
    features: tuple[str, ...] = FEATURES

    def __call__(self, x: dict[str, float]) -> float:
        z = self.intercept + sum(w * x[name] for name, w in zip(self.features, self.weights))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def article_features(hits) -> dict[str, float]:
    """ARTICLE_FEATURES of a question's re-ranked hits (at least one)."""
    top = hits[0]
    other = next((h.score for h in hits[1:] if h.chunk.article_id != top.chunk.article_id), None)
    gap = 1.0 if other is None else (top.score - other) / max(abs(top.score), 1e-9)
    return {"score": top.score / 100, "article_gap": gap} | {
        name: float(top.scores.get(name, 0.0)) for name in ("cosine", "window", "chunk", "title")}


@dataclass(frozen=True)
class ArticleModel:
    """`model`: the probability that the top passage's article is the one a question is about (benchmarks/
    calibrate_article.py fits it on public data); a record answer less likely than `refuse_below` is refused."""

    model: Logistic
    refuse_below: float

    @classmethod
    def load(cls, path: Path = ARTICLE_FILE, refuse_below: float | None = None) -> "ArticleModel":
        """The fitted model and its threshold (`refuse_below`, when given, overrides the fitted one)."""
        data = _fitted(path, ARTICLE_FEATURES, "benchmarks/calibrate_article.py")
        model = Logistic(float(data["intercept"]), tuple(map(float, data["weights"])), ARTICLE_FEATURES)
        return cls(model, float(data["refuse_below"] if refuse_below is None else refuse_below))

    def __call__(self, hits) -> float:
        """The probability for a question's re-ranked hits (at least one)."""
        return self.model(article_features(hits))


def _fitted(path: Path, features: tuple[str, ...], fitter: str) -> dict:
    """A fitted model file's JSON, refused when it is unreadable or was fitted for other features."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read the calibration {path}: {error}") from error
    if data.get("format_version") != FORMAT_VERSION or tuple(data.get("features", ())) != features:
        raise ModelError(f"{path} was fitted for other features or another format; run {fitter}")
    return data


@dataclass(frozen=True)
class Calibration:
    """`span`: the probability that a candidate span is right (F1 >= 0.5 against a gold answer); it also
    picks the answer among the candidates. `support`: the probability that the candidate's sentence holds a
    gold answer: below `refuse_below` the question is refused. A span of at least `confident_above` is shown
    as the answer, a less certain one inside its sentence. Both thresholds are chosen by the fit and stored
    with the models; the configuration may override them."""

    span: Logistic
    support: Logistic
    confident_above: float
    refuse_below: float

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE, confident_above: float | None = None,
             refuse_below: float | None = None) -> "Calibration":
        """The fitted models and thresholds (a threshold given here overrides the fitted one)."""
        data = _fitted(path, FEATURES, "benchmarks/calibrate.py")
        model = {name: Logistic(float(data[name]["intercept"]), tuple(map(float, data[name]["weights"])))
                 for name in ("span", "support")}
        return cls(model["span"], model["support"],
                   float(data["confident_above"] if confident_above is None else confident_above),
                   float(data["refuse_below"] if refuse_below is None else refuse_below))

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "features": list(FEATURES),
            **{name: {"intercept": m.intercept, "weights": list(m.weights)}
               for name, m in (("span", self.span), ("support", self.support))},
            "confident_above": self.confident_above,
            "refuse_below": self.refuse_below,
        }
