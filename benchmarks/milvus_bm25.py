"""Keyword-only retrieval over the same chunks: bm25s against two Milvus Lite keyword searches.

Usage: python benchmarks/milvus_bm25.py DATASET_DIR [--limit N]

DATASET_DIR is laid out as for benchmarks/retrieval.py. The chunks' Chunk.indexed_text(headline) is indexed three ways:
  bm25s                 qa.storage.sparse.BM25Index over Tokenizer() tokens (the embedded store)
  milvus-client-sparse  a SPARSE_FLOAT_VECTOR field holding BM25 weights from the same tokens, computed as the Milvus
                        store computes them (qa.storage.milvus.terms.term_weights, token_id), metric IP
  milvus-bm25-function  a VARCHAR field with milvus-lite's jieba analyzer (our stopwords and punctuation as its stop
                        filter) and a BM25 Function, searched with the question text; documents and questions both
                        go through Tokenizer().prepare (NFKC, traditional -> simplified, lower case) first
Each prints the evaluate() line of benchmarks/retrieval.py (hit@1 hit@5 mrr ms/q); each Milvus collection also
prints its build time (inserts in batches of 1000 rows, then one flush). The Milvus Lite database lives in a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from milvus_lite.server_manager import server_manager_instance  # noqa: E402
from pymilvus import DataType, Function, FunctionType, MilvusClient  # noqa: E402
from retrieval import evaluate, load_corpus  # noqa: E402

from qa.config import Config  # noqa: E402
from qa.ingest.documents import Chunk, Hit  # noqa: E402
from qa.language.tokenize import Tokenizer  # noqa: E402
from qa.storage.milvus.terms import term_weights, token_id  # noqa: E402
from qa.storage.sparse import BM25Index  # noqa: E402
from qa.storage.store import top_k  # noqa: E402

K = 5
BATCH = 1000
# jieba yields each punctuation mark as a token of its own; Tokenizer drops them, milvus-lite's analyzer does not.
PUNCTUATION = set(string.punctuation) | set("。、「」『』《》〈〉【】〔〕〖〗—–…·‧“”‘’￥")
Search = Callable[[str], list[Hit]]


def insert(client: MilvusClient, name: str, rows: list[dict]) -> float:
    """Seconds to insert the rows in batches and flush them into one sealed segment."""
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        client.insert(name, rows[i:i + BATCH])
    client.flush(name)
    return time.perf_counter() - started


def client_sparse(client: MilvusClient, bm25: BM25Index, tokenizer: Tokenizer, tokens: list[list[str]],
                  chunks: list[Chunk]) -> Search:
    """The Milvus store's own keyword half (qa.storage.milvus): each passage's term-frequency part under a hashed
    token dimension, a query vector of IDF x count, scored by IP (= bm25s's lucene score)."""
    started = time.perf_counter()
    avgdl = sum(map(len, tokens)) / len(tokens)
    rows = [{"id": i, "vector": term_weights(toks, avgdl)} for i, toks in enumerate(tokens)]
    vocabulary = {t for toks in tokens for t in toks}
    weighing = time.perf_counter() - started
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.SPARSE_FLOAT_VECTOR)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection("client_sparse", schema=schema, index_params=index)
    seconds = insert(client, "client_sparse", rows)
    print(f"# milvus-client-sparse: {len(rows)} rows inserted and flushed in {seconds:.1f} s, client-side weights "
          f"{weighing:.1f} s", flush=True)

    def search(question: str) -> list[Hit]:
        query: dict[int, float] = {}
        for token, n in Counter(t for t in tokenizer(question) if t in vocabulary).items():
            query[token_id(token)] = query.get(token_id(token), 0.0) + n * bm25.idf(token)
        if not query:
            return []
        found = client.search("client_sparse", data=[query], anns_field="vector", limit=K)[0]
        return [Hit(chunks[h["id"]], h["distance"], {}) for h in found]

    return search


def bm25_function(client: MilvusClient, bm25: BM25Index, tokenizer: Tokenizer, texts: list[str],
                  chunks: list[Chunk]) -> Search:
    """A BM25 Function over the prepared text, analysed by jieba (search mode) with our stop words."""
    stop_words = sorted(tokenizer.stopwords | PUNCTUATION)
    analyzer = {"tokenizer": "jieba", "filter": [{"type": "stop", "stop_words": stop_words}]}
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=analyzer)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    index = client.prepare_index_params()
    # milvus-lite 3.2.2 reads build parameters only from a nested "params" entry: flat bm25_k1/bm25_b are ignored.
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"params": {"bm25_k1": bm25.k1, "bm25_b": bm25.b}})
    client.create_collection("bm25_function", schema=schema, index_params=index)
    seconds = insert(client, "bm25_function", [{"id": i, "text": tokenizer.prepare(t)} for i, t in enumerate(texts)])
    print(f"# milvus-bm25-function: {len(texts)} rows inserted and flushed (server-side jieba) in {seconds:.1f} s",
          flush=True)

    def search(question: str) -> list[Hit]:
        found = client.search("bm25_function", data=[tokenizer.prepare(question)], anns_field="sparse", limit=K)[0]
        return [Hit(chunks[h["id"]], -h["distance"], {}) for h in found]  # milvus-lite returns -score for BM25

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, help="a seeded random sample of this many questions")
    args = parser.parse_args()

    corpus = load_corpus(args.dataset, Config.from_env())
    chunks = corpus.chunks
    texts = [c.indexed_text(corpus.headline(c)) for c in chunks]
    tokenizer = Tokenizer()
    started = time.perf_counter()
    tokens = [tokenizer(t) for t in texts]
    bm25 = BM25Index()
    bm25.build(tokens)
    print(f"# {args.dataset.name}: {len(corpus.articles)} docs, {len(chunks)} chunks, tokenised and bm25s-indexed in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    questions = [json.loads(line) for line in (args.dataset / "questions.jsonl").open(encoding="utf-8")]
    if args.limit:
        questions = random.Random(0).sample(questions, min(args.limit, len(questions)))

    def search_bm25s(question: str) -> list[Hit]:
        scores = bm25.scores(tokenizer(question))
        return [Hit(chunks[i], float(scores[i]), {}) for i in top_k(scores, K)]

    with tempfile.TemporaryDirectory(prefix="milvus_bm25_") as folder:
        path = str(Path(folder) / "bench.db")
        client = MilvusClient(path)
        try:
            searches = {
                "bm25s": search_bm25s,
                "milvus-client-sparse": client_sparse(client, bm25, tokenizer, tokens, chunks),
                "milvus-bm25-function": bm25_function(client, bm25, tokenizer, texts, chunks),
            }
            for name, search in searches.items():
                evaluate(name, search, questions)
        finally:
            client.close()
            server_manager_instance.release_server(path)  # the in-process server holds the folder's lock


if __name__ == "__main__":
    main()
