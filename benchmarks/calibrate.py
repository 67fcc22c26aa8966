"""Fit the answer's calibrated models and choose their thresholds (writes qa/answers/weights/confidence.json).

Usage: python benchmarks/calibrate.py [--bench ../shared/bench] [--out qa/answers/weights/confidence.json]
                                      [--weights FILE] [--candidates FILE.json]

Data: the documents of every training set that the reader never trained on (qa.models.reader_data.held_back,
15 % of each set), each set's held-back documents one archive, asked through the served path. Every question
is asked three times:
  * answerable: over the whole archive;
  * near miss: over the archive without its own document (and the others of its group: GROUPS groups by a
    hash of the document), which still holds the set's other documents, related or not;
  * cut: over the archive in which the sentences that hold its group's answers are cut out of their
    documents: the article is there, the fact is not (as a reader's question about a fact a report leaves out).
Never CMRC 2018 dev, never seed questions.

  * span model: every candidate span of the reader, label 1 when its F1 against a gold answer is >= 0.5;
  * support model: the candidate the span model picks per question, label 1 when its sentence holds a gold.

Thresholds, on out-of-fold figures (FOLDS folds by question, seed 0: each question scored by models fitted on
the others), written into the JSON beside the models:
  * `refuse_below`: the highest support that refuses at most MAX_REFUSED of the answerable questions (the
    label of a near miss or a cut question is what its shown sentence really holds, as for the answerable);
  * `confident_above`: the lowest confidence at which the answerable questions' short answers shown as
    confident (at least 20) are at least CONFIDENT_PRECISION right.
It prints the refusal curve (near misses refused against answerable questions refused) and per-set figures.
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
from qa.models.reader_data import TRAIN_SETS, held_back, read_jsonl, sentences  # noqa: E402

MAX_REFUSED = 0.05  # of the answerable questions (the product goal: at most 5 % refused)
CONFIDENT_PRECISION = 0.90  # the product goal: 90 % of the confident short answers right
FOLDS = 5
GROUPS = 10  # a near miss is asked over the archive without its document's group (one index per group)
GRID = [t / 200 for t in range(1, 200)]
ASKINGS = ("answerable", "near_miss", "cut")


def group(doc_id: str) -> int:
    return hashlib.sha256(f"group/{doc_id}".encode()).digest()[0] % GROUPS


def load(bench: Path, name: str) -> tuple[list[dict], list[dict]]:
    """A training set's held-back documents and their questions."""
    folder = bench / name
    docs = [d for d in read_jsonl(folder / "corpus.jsonl") if held_back(name, str(d["id"]))]
    kept = {str(d["id"]) for d in docs}
    questions = [q for q in read_jsonl(folder / "questions.jsonl")
                 if str(q["doc_id"]) in kept and any(a.strip() for a in q["answers"])]
    return docs, questions


def collect(bench: Bench, questions: list[dict]) -> list[list[tuple[list[float], int, int]]]:
    """Per question, every candidate's (features, span right, sentence holds a gold)."""
    out = []
    for q in questions:
        golds = [g for g in q["answers"] if g.strip()]
        analysed, hits = bench.hits(q)
        rows = []
        for _, c, features in bench.answerer.scored(analysed, hits):
            chunk = c.hit.chunk
            sentence = next((chunk.text[a:b] for a, b in chunk.sentences if a <= c.start < b), chunk.text)
            rows.append(([features[f] for f in FEATURES], int(f1(chunk.text[c.start:c.end], golds) >= 0.5),
                         int(holds(sentence, golds))))
        out.append(rows)
    return out


def cut_answers(text: str, starts: list[int]) -> str:
    """The text without the sentences (as the reader's training splits them) that hold any of the offsets."""
    return "".join(text[a:b] for a, b in sentences(text) if not any(a <= s < b for s in starts))


def collect_set(bench: Bench, config: Config, root: Path, name: str, askings=ASKINGS) -> dict[str, dict]:
    """Each question of a set's held-back documents (by id): its candidates in each of `askings`."""
    docs, questions = load(root, name)
    found = {q["id"]: {"set": name, "id": q["id"]} for q in questions}
    if "answerable" in askings:
        for q, rows in zip(questions, collect(bench.over(corpus_of(docs, config)), questions)):
            found[q["id"]]["answerable"] = rows
    for g in range(GROUPS):
        mine = [q for q in questions if group(str(q["doc_id"])) == g]
        if not mine:
            continue
        archives = {"near_miss": [d for d in docs if group(str(d["id"])) != g]}
        starts: dict[str, list[int]] = {}
        for q in mine:
            starts.setdefault(str(q["doc_id"]), []).extend(q["answer_starts"])
        archives["cut"] = [d | {"text": cut_answers(d["text"], starts.get(str(d["id"]), []))} for d in docs]
        for asking in set(askings) & set(archives):
            for q, rows in zip(mine, collect(bench.over(corpus_of(archives[asking], config)), mine)):
                found[q["id"]][asking] = rows
    print(f"  {name}: {len(questions)} questions over {len(docs)} documents ({', '.join(askings)})", flush=True)
    return found


def pick(rows, span: Logistic):
    """The candidate the span model picks (None: the reader found none)."""
    return max(rows, key=lambda r: span(dict(zip(FEATURES, r[0])))) if rows else None


def fit_both(items: list[dict], part: list[int]) -> tuple[Logistic, Logistic]:
    """The span model on every candidate of `part`'s questions (every asking), then the support model on the
    candidates it picks."""
    lists = [items[i][k] for i in part for k in ASKINGS]
    span = fit([f for rows in lists for f, _, _ in rows], [s for rows in lists for _, s, _ in rows])
    picked = [r for rows in lists if (r := pick(rows, span))]
    return span, fit([r[0] for r in picked], [r[2] for r in picked])


def fit(x, y) -> Logistic:
    model = LogisticRegression(C=1.0, max_iter=5000).fit(np.array(x), np.array(y))
    return Logistic(float(model.intercept_[0]), tuple(float(w) for w in model.coef_[0]))


def scored(rows, span: Logistic, support: Logistic) -> tuple[float, float, int, int]:
    """(confidence, support, span right, sentence holds) of the picked candidate; zeros when there is none."""
    r = pick(rows, span)
    if r is None:
        return 0.0, 0.0, 0, 0
    x = dict(zip(FEATURES, r[0]))
    return span(x), support(x), r[1], r[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=Path("../shared/bench"))
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--weights", type=Path, default=READER_WEIGHTS, help="another trained reader file")
    parser.add_argument("--candidates", type=Path, help="keep the collected candidates in this file (and reuse it)")
    args = parser.parse_args()

    config = Config.from_env()
    kept = json.loads(args.candidates.read_text()) if args.candidates and args.candidates.exists() else []
    items = {item["id"]: item for item in kept}
    missing = {name: [a for a in ASKINGS if not any(a in i for i in kept if i["set"] == name)] for name in TRAIN_SETS}
    if any(missing.values()):
        # Before the fit, candidates are only collected: any calibration will do.
        start = Calibration(Logistic(0.0, (1.0,) + (0.0,) * (len(FEATURES) - 1)), Logistic(0.0, (0.0,) * len(FEATURES)),
                            0.5, 0.5)
        first = corpus_of(load(args.bench, TRAIN_SETS[0])[0], config)  # each set is indexed anew by collect_set
        bench = Bench(args.bench / TRAIN_SETS[0], config, start, corpus=first, weights=args.weights)
        for name, askings in missing.items():
            for key, found in collect_set(bench, config, args.bench, name, askings).items():
                items[key] = items.get(key, {}) | found
        if args.candidates:
            args.candidates.write_text(json.dumps(list(items.values())))
    items = list(items.values())
    order = list(range(len(items)))
    random.Random(0).shuffle(order)
    folds = [order[k::FOLDS] for k in range(FOLDS)]
    dev: list[tuple] = [None] * len(items)  # out of fold: each asking's scores (ASKINGS' order) per question
    for k, held in enumerate(folds):
        span, support = fit_both(items, [i for j, fold in enumerate(folds) if j != k for i in fold])
        for i in held:
            dev[i] = tuple(scored(items[i][k], span, support) for k in ASKINGS)
    span, support = fit_both(items, order)

    def refused(t: float, kind: int, within=range(len(items))) -> float:
        return sum(dev[i][kind][1] < t for i in within) / max(len(within), 1)

    refuse_below = max(t for t in [0.0, *GRID] if refused(t, 0) <= MAX_REFUSED)
    answered = [dev[i][0] for i in range(len(items)) if dev[i][0][1] >= refuse_below]

    def precision(t: float) -> float:
        shown = [right for p, _, right, _ in answered if p >= t]
        return sum(shown) / len(shown) if len(shown) >= 20 else 0.0

    confident_above = next((t for t in GRID if precision(t) >= CONFIDENT_PRECISION), 0.995)
    calibration = Calibration(span, support, confident_above, refuse_below)
    args.out.write_text(json.dumps(calibration.to_json(), indent=2) + "\n", encoding="utf-8")

    print(f"# {len(items)} questions of {', '.join(TRAIN_SETS)} (held-back documents), each asked "
          f"answerable, as a near miss and cut; {FOLDS}-fold out-of-fold figures, models refitted on all")
    print(f"refuse_below {refuse_below:.3f}: answerable refused {refused(refuse_below, 0):.3f}, "
          f"near misses refused {refused(refuse_below, 1):.3f}, cut refused {refused(refuse_below, 2):.3f}")
    print(f"confident_above {confident_above:.3f}: {sum(p >= confident_above for p, *_ in answered)}/{len(items)} "
          f"answerable questions shown as confident, {precision(confident_above):.3f} of them right; near misses "
          f"shown as confident {sum(n[1] >= refuse_below and n[0] >= confident_above for _, n, _ in dev) / len(dev):.3f}")
    print("refusal curve (support threshold: answerable refused, near misses refused, cut refused):")
    for t in [x / 20 for x in range(1, 20)]:
        print(f"  {t:.2f}  {refused(t, 0):.3f}  {refused(t, 1):.3f}  {refused(t, 2):.3f}")
    print("per set at these thresholds (answerable refused, near misses refused, cut refused, shown as confident, "
          "of them right):")
    for name in TRAIN_SETS:
        mine = [i for i, item in enumerate(items) if item["set"] == name]
        shown = [dev[i][0] for i in mine if dev[i][0][1] >= refuse_below and dev[i][0][0] >= confident_above]
        print(f"  {name:18s} {len(mine):5d} questions  {refused(refuse_below, 0, mine):.3f}  "
              f"{refused(refuse_below, 1, mine):.3f}  {refused(refuse_below, 2, mine):.3f}  "
              f"{len(shown) / max(len(mine), 1):.3f}  "
              f"{sum(r for _, _, r, _ in shown) / max(len(shown), 1):.3f}")
    print("reliability, out of fold, answerable (confidence: questions, share right):")
    for low, high in zip((0, .2, .4, .6, .8, .9), (.2, .4, .6, .8, .9, 1.0001)):
        inside = [right for (p, _, right, _), *_ in dev if low <= p < high]
        if inside:
            print(f"  [{low:.1f}, {min(high, 1):.1f})  {len(inside):4d}  {sum(inside) / len(inside):.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
