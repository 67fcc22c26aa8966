"""Fit the answer's calibrated models and choose their thresholds (writes qa/answers/weights/confidence.json).

Usage: python benchmarks/calibrate.py [--bench ../shared/bench] [--out qa/answers/weights/confidence.json]

Data: the CMRC 2018 trial documents that the reader never trained on (qa.models.train_reader.calibration_half),
indexed and asked through the served path. For a random half of their questions the sentences holding the
answer are cut out of the indexed text: the archive still has the topic but no longer says the fact (the
label of such a question is what its shown sentence really holds). Never CMRC 2018 dev, never seed questions.

  * span model: every candidate span of the reader, label 1 when its F1 against a gold answer is >= 0.5;
  * support model: the candidate the span model picks per question, label 1 when its sentence holds a gold.

The thresholds are chosen on out-of-fold figures (5 folds, seed 0: each question scored by models fitted on
the other four fifths) -- `confident_above`: the lowest confidence at which at least 20 shown short answers
are at least CONFIDENT_PRECISION right; `refuse_below`: the support that best separates sentences that hold
the answer from those that do not (balanced accuracy). The models written are then fitted on all questions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from answers import Bench, f1, holds  # noqa: E402
from retrieval import corpus_of  # noqa: E402

from qa.answers.confidence import CALIBRATION_FILE, FEATURES, Calibration, Logistic  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.models.reader import READER_WEIGHTS  # noqa: E402
from qa.models.train_reader import calibration_half, sentences  # noqa: E402

CONFIDENT_PRECISION = 0.88  # a margin over the product goal (85 % of confident short answers right)
FOLDS = 5


def cut_answers(text: str, starts: list[int]) -> str:
    """The text without the sentences (as the reader's training splits them) that hold any of the offsets."""
    return "".join(text[a:b] for a, b in sentences(text) if not any(a <= s < b for s in starts))


def removed(question_id: str) -> bool:
    return hashlib.sha256(question_id.encode()).digest()[1] % 2 == 0


def load(bench: Path, config: Config):
    folder = bench / "cmrc2018_trial"
    docs = {str(d["id"]): d for d in map(json.loads, (folder / "corpus.jsonl").open(encoding="utf-8"))
            if calibration_half(str(d["id"]))}
    questions = [q for q in map(json.loads, (folder / "questions.jsonl").open(encoding="utf-8"))
                 if str(q["doc_id"]) in docs]
    cuts: dict[str, list[int]] = {}
    for q in questions:
        if removed(q["id"]):
            cuts.setdefault(str(q["doc_id"]), []).extend(q["answer_starts"])
    texts = [d | {"text": cut_answers(d["text"], cuts.get(i, []))} for i, d in docs.items()]
    return corpus_of(texts, config), questions


def collect(bench: Bench, questions: list[dict]) -> list[list[tuple[list[float], int, int]]]:
    """Per question, every candidate's (features, span right, sentence holds a gold)."""
    out = []
    for n, q in enumerate(questions, 1):
        golds = [g for g in q["answers"] if g.strip()]
        analysed, hits = bench.hits(q)
        rows = []
        for _, c, features in bench.answerer.scored(analysed, hits):
            chunk = c.hit.chunk
            sentence = next((chunk.text[a:b] for a, b in chunk.sentences if a <= c.start < b), chunk.text)
            rows.append(([features[f] for f in FEATURES], int(f1(chunk.text[c.start:c.end], golds) >= 0.5),
                         int(holds(sentence, golds))))
        out.append(rows)
        if n % 100 == 0:
            print(f"  {n}/{len(questions)} questions", flush=True)
    return out


def pick(rows, span: Logistic):
    """The candidate the span model picks (None: the reader found none)."""
    return max(rows, key=lambda r: span(dict(zip(FEATURES, r[0])))) if rows else None


def fit_both(per_question, part: list[int]) -> tuple[Logistic, Logistic]:
    """The span model on every candidate of `part`, then the support model on the candidates it picks."""
    span = fit([f for i in part for f, _, _ in per_question[i]], [s for i in part for _, s, _ in per_question[i]])
    picked = [r for i in part if (r := pick(per_question[i], span))]
    return span, fit([r[0] for r in picked], [r[2] for r in picked])


def fit(x, y) -> Logistic:
    model = LogisticRegression(C=1.0, max_iter=5000).fit(np.array(x), np.array(y))
    return Logistic(float(model.intercept_[0]), tuple(float(w) for w in model.coef_[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=Path("../shared/bench"))
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--weights", type=Path, default=READER_WEIGHTS, help="another trained reader file")
    parser.add_argument("--candidates", type=Path, help="keep the collected candidates in this file (and reuse it)")
    args = parser.parse_args()

    config = Config.from_env()
    corpus, questions = load(args.bench, config)
    # Before the fit, candidates are only collected: any calibration will do.
    start = Calibration(Logistic(0.0, (1.0,) + (0.0,) * (len(FEATURES) - 1)), Logistic(0.0, (0.0,) * len(FEATURES)), 0.5)
    bench = Bench(args.bench / "cmrc2018_trial", config, start, corpus=corpus, weights=args.weights)
    print(f"# {len(questions)} questions over {len(corpus.articles)} documents "
          f"({sum(removed(q['id']) for q in questions)} with their answer sentences cut)", flush=True)
    if args.candidates and args.candidates.exists():
        per_question = json.loads(args.candidates.read_text())
    else:
        per_question = collect(bench, questions)
        if args.candidates:
            args.candidates.write_text(json.dumps(per_question))
    order = list(range(len(questions)))
    random.Random(0).shuffle(order)
    folds = [order[k::FOLDS] for k in range(FOLDS)]
    dev = []  # out-of-fold (confidence, support, span right, sentence holds) of every question
    for k, held in enumerate(folds):
        span, support = fit_both(per_question, [i for j, fold in enumerate(folds) if j != k for i in fold])
        for i in held:
            r = pick(per_question[i], span)
            x = dict(zip(FEATURES, r[0])) if r else None
            dev.append((span(x), support(x), r[1], r[2]) if r else (0.0, 0.0, 0, 0))
    span, support = fit_both(per_question, order)
    grid = [t / 100 for t in range(1, 100)]

    def balanced(t):
        pos = [s >= t for _, s, _, h in dev if h]
        neg = [s < t for _, s, _, h in dev if not h]
        return (sum(pos) / max(len(pos), 1) + sum(neg) / max(len(neg), 1)) / 2

    refuse_below = max(grid, key=balanced)
    answered = [(p, right) for p, s, right, _ in dev if s >= refuse_below]

    def precision(t):
        shown = [right for p, right in answered if p >= t]
        return sum(shown) / len(shown) if len(shown) >= 20 else 0.0

    confident_above = next((t for t in grid if precision(t) >= CONFIDENT_PRECISION), 0.99)
    calibration = Calibration(span, support, confident_above)
    args.out.write_text(json.dumps(calibration.to_json(), indent=2) + "\n", encoding="utf-8")

    holders = sum(h for *_, h in dev)
    print(f"# {FOLDS}-fold: thresholds from the out-of-fold figures of all {len(dev)} questions; models refitted on all")
    print(f"refuse_below {refuse_below:.2f} (balanced accuracy {balanced(refuse_below):.3f}: "
          f"{sum(s >= refuse_below for _, s, _, h in dev if h)}/{holders} holding sentences kept, "
          f"{sum(s < refuse_below for _, s, _, h in dev if not h)}/{len(dev) - holders} others refused)")
    print(f"confident_above {confident_above:.2f}: {sum(p >= confident_above for p, _ in answered)}/{len(answered)} "
          f"answers shown as confident, {precision(confident_above):.3f} of them right")
    print("reliability, out of fold (confidence: questions, share right):")
    for low, high in zip((0, .2, .4, .6, .8, .9), (.2, .4, .6, .8, .9, 1.0001)):
        inside = [right for p, _, right, _ in dev if low <= p < high]
        if inside:
            print(f"  [{low:.1f}, {min(high, 1):.1f})  {len(inside):4d}  {sum(inside) / len(inside):.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
