"""Keyword-only retrieval over the same chunks: bm25s against two Milvus Lite keyword searches.

Usage: python benchmarks/milvus_bm25.py DATASET_DIR [--limit N]

DATASET_DIR is laid out as for benchmarks/retrieval.py. The chunks' Chunk.indexed_text(headline) is indexed three ways:
  bm25s                 qa.sparse.BM25Index over Tokenizer() tokens (the embedded store)
  milvus-client-sparse  a SPARSE_FLOAT_VECTOR field holding BM25 weights computed here from the same tokens, metric IP
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from milvus_lite.server_manager import server_manager_instance  # noqa: E402
from pymilvus import DataType, Function, FunctionType, MilvusClient  # noqa: E402
from retrieval import evaluate, load_corpus  # noqa: E402

from qa.config import Config  # noqa: E402
from qa.documents import Hit  # noqa: E402
from qa.fusion import top_k  # noqa: E402
from qa.sparse import BM25Index  # noqa: E402
from qa.tokenize import Tokenizer  # noqa: E402

K = 5
BATCH = 1000
# jieba yields each punctuation mark as a token of its own; Tokenizer drops them, milvus-lite's analyzer does not.
PUNCTUATION = set(string.punctuation) | set("。、「」『』《》〈〉【】〔〕〖〗—–…·‧“”‘’￥")


def insert(client: MilvusClient, name: str, rows: list[dict]) -> float:
    """Seconds to insert the rows in batches and flush them into one sealed segment."""
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        client.insert(name, rows[i:i + BATCH])
    client.flush(name)
    return time.perf_counter() - started


def client_sparse(client: MilvusClient, bm25: BM25Index, tokens: list[list[str]]) -> tuple[dict[str, int], float]:
    """Collection of BM25 document weights, idf(t)*tf/(tf + k1*(1-b+b*dl/avgdl)) as bm25s' lucene method scores;
    a query {token: count} scored by IP then sums the same terms as BM25Index.scores."""
    started = time.perf_counter()
    vocab = {t: i for i, t in enumerate(dict.fromkeys(t for toks in tokens for t in toks))}
    idf = {t: bm25.idf(t) for t in vocab}
    avgdl = sum(map(len, tokens)) / len(tokens)
    rows = []
    for i, toks in enumerate(tokens):
        norm = bm25.k1 * (1 - bm25.b + bm25.b * len(toks) / avgdl)
        weights = {vocab[t]: idf[t] * tf / (tf + norm) for t, tf in Counter(toks).items()}
        if weights:  # Milvus refuses an empty sparse vector: a chunk without words cannot be found anyway
            rows.append({"id": i, "vector": weights})
    weighing = time.perf_counter() - started
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.SPARSE_FLOAT_VECTOR)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection("client_sparse", schema=schema, index_params=index)
    seconds = insert(client, "client_sparse", rows)
    print(f"# milvus-client-sparse: {len(rows)} rows ({len(tokens) - len(rows)} without words left out) inserted "
          f"and flushed in {seconds:.1f} s, client-side weights {weighing:.1f} s", flush=True)
    return vocab


def bm25_function(client: MilvusClient, bm25: BM25Index, tokenizer: Tokenizer, texts: list[str]) -> None:
    """Collection whose BM25 Function analyses the prepared text with jieba (search mode) and our stop words."""
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

    def search_client_sparse(question: str) -> list[Hit]:
        counts = Counter(vocab[t] for t in tokenizer(question) if t in vocab)
        if not counts:
            return []
        found = client.search("client_sparse", data=[{t: float(n) for t, n in counts.items()}], anns_field="vector",
                              limit=K)[0]
        return [Hit(chunks[h["id"]], h["distance"], {}) for h in found]

    def search_bm25_function(question: str) -> list[Hit]:
        found = client.search("bm25_function", data=[tokenizer.prepare(question)], anns_field="sparse", limit=K)[0]
        return [Hit(chunks[h["id"]], -h["distance"], {}) for h in found]  # milvus-lite returns -score for BM25

    with tempfile.TemporaryDirectory(prefix="milvus_bm25_") as folder:
        path = str(Path(folder) / "bench.db")
        client = MilvusClient(path)
        try:
            vocab = client_sparse(client, bm25, tokens)
            bm25_function(client, bm25, tokenizer, texts)
            evaluate("bm25s", search_bm25s, questions)
            evaluate("milvus-client-sparse", search_client_sparse, questions)
            evaluate("milvus-bm25-function", search_bm25_function, questions)
        finally:
            client.close()
            server_manager_instance.release_server(path)  # the in-process server holds the folder's lock


if __name__ == "__main__":
    main()
