"""Fit the re-ranker's feature weights on candidate dumps of benchmarks/retrieval.py --dump.

Usage: python benchmarks/tune_rerank.py DUMP.jsonl [DUMP.jsonl ...]

Pairwise logistic regression (gold candidate vs each other candidate of the same question) on
feature differences; reports 5-fold cross-validated hit@1 per dump, hit@1 when trained on the
other dumps only (does it hold on a set it never saw?), the weights fitted on all dumps, and hit@1 on
all dumps with the BM25 weight scaled up (BM25_SCALES: the fit's BM25 weight against a larger one).
Fit on dumps of training sets only (CMRC 2018 train, DRCD dev), never of CMRC 2018 dev or the seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from qa.search.rerank import FEATURES, WEIGHTS  # noqa: E402

BM25_SCALES = (1, 2, 4, 8, 16)


def load(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    questions = []
    for line in path.open(encoding="utf-8"):
        row = json.loads(line)
        x = np.array([[c["features"][f] for f in FEATURES] for c in row["candidates"]], dtype=np.float64)
        y = np.array([c["hit"] for c in row["candidates"]], dtype=bool)
        questions.append((x, y))
    return questions


def pairs(questions):
    diffs = []
    for x, y in questions:
        if y.any() and not y.all():
            diffs.append((x[y][:, None, :] - x[~y][None, :, :]).reshape(-1, x.shape[1]))
    d = np.concatenate(diffs)
    return np.concatenate([d, -d]), np.concatenate([np.ones(len(d)), np.zeros(len(d))])


def fit(questions, c: float = 1.0) -> np.ndarray:
    x, y = pairs(questions)
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000)
    model.fit(x, y)
    w = model.coef_[0]
    return w / w[0] if w[0] > 0 else w  # scale so the BM25 weight reads as 1


def hit1(questions, w: np.ndarray) -> float:
    return float(np.mean([bool(y[np.argmax(x @ w)]) for x, y in questions]))


def cross_validated(questions, folds: int = 5) -> float:
    order = np.random.default_rng(0).permutation(len(questions))
    hits = []
    for k in range(folds):
        test = set(order[k::folds].tolist())
        w = fit([q for i, q in enumerate(questions) if i not in test])
        hits += [bool(questions[i][1][np.argmax(questions[i][0] @ w)]) for i in test]
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dumps", type=Path, nargs="+")
    args = parser.parse_args()
    sets = {p.stem: load(p) for p in args.dumps}
    everything = [q for qs in sets.values() for q in qs]
    w_all = fit(everything)
    print("features ", " ".join(f"{f:>8}" for f in FEATURES))
    print("current  ", " ".join(f"{v:8.3f}" for v in WEIGHTS))
    print("fitted   ", " ".join(f"{v:8.3f}" for v in w_all))
    fused = np.zeros(len(FEATURES))
    fused[FEATURES.index("bm25_share")], fused[FEATURES.index("dense_gap")] = 1.0, 0.6
    for name, qs in sets.items():
        others = [q for n, q2 in sets.items() if n != name for q in q2]
        line = (f"{name}: n={len(qs)} bm25+0.6dense {hit1(qs, fused):.3f} current {hit1(qs, WEIGHTS):.3f} "
                f"fitted-on-all {hit1(qs, w_all):.3f} 5-fold-cv {cross_validated(qs):.3f}")
        if others:
            line += f" trained-on-others {hit1(qs, fit(others)):.3f}"
        print(line)
    for scale in BM25_SCALES:
        w = w_all.copy()
        w[FEATURES.index("bm25_share")] *= scale
        print(f"BM25 weight x{scale:<2} ({w[0]:.3f}): hit@1 on all dumps {hit1(everything, w):.4f}")


if __name__ == "__main__":
    main()
