"""A third store, for the tests only: everything in memory, rebuilt from the seeds at each start, nothing saved.

It proves the store factory: a server started with QA_STORE=memory_store:BACKEND (this folder on its path)
serves the whole API from it, and nothing in qa/ names it. BM25 is bm25s in memory, vector search is an exact
numpy scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from qa.config import Config
from qa.errors import NotReady
from qa.indexing.corpus import Corpus, read_seeds, seed_checksums
from qa.indexing.encode import encode_corpus
from qa.indexing.manifest import new_manifest, settings_of
from qa.language.tokenize import Tokenizer
from qa.models.dense import EmbeddingCache, Encoder
from qa.storage.backend import Backend
from qa.storage.filters import Selection
from qa.storage.index import Index
from qa.storage.library import Library
from qa.storage.sparse import BM25Index
from qa.storage.store import Candidates, Store, top_k


class MemoryStore(Store):
    kind = "memory"

    def __init__(self, bm25: BM25Index, vectors: np.ndarray):
        self.bm25, self.vectors = bm25, vectors

    def keyword(self, tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.bm25.scores(tokens)
        ids = top_k(scores, n)
        return scores[ids], ids

    def nearest(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.vectors @ query
        ids = top_k(scores, n)
        return scores[ids], ids

    def candidates(self, tokens: list[str], query: np.ndarray, n: int, extra: np.ndarray,
                   within: Selection | None = None) -> Candidates:
        bm25, cosine = self.bm25.scores(tokens), self.vectors @ query
        allowed = np.arange(len(bm25)) if within is None else within.positions
        keep = np.ones(len(bm25), dtype=bool) if within is None else within.mask
        ids = np.unique(np.concatenate([allowed[top_k(bm25[allowed], n)], allowed[top_k(cosine[allowed], n)],
                                        extra[keep[extra]]]))
        return Candidates(ids, bm25[ids], cosine[ids].astype(np.float32))

    def idf(self, tokens: list[str]) -> list[float]:
        return [self.bm25.idf(t) for t in tokens]

    @property
    def size(self) -> int:
        return self.bm25.size


class MemoryBackend(Backend):
    name = MemoryStore.kind

    def build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer,
              changes: dict[str, bytes | None] | None = None, progress: bool = True) -> Index:
        started = time.perf_counter()
        checksums = seed_checksums(config.seeds_dir)
        pages, skipped = read_seeds(config.seeds_dir)
        corpus = Corpus.from_pages(pages, config, skipped)
        if not corpus.chunks:
            raise NotReady(f"no page with text to index in {config.seeds_dir}")
        tokens, vectors, types = encode_corpus(corpus, encoder, tokenizer,
                                               EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint),
                                               progress)
        bm25 = BM25Index()
        bm25.build(tokens)
        manifest = new_manifest(corpus, encoder, MemoryStore.kind) | {
            "settings": settings_of(config), "seeds": checksums, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "build_seconds": round(time.perf_counter() - started, 2)}
        return Index.of(corpus, MemoryStore(bm25, np.asarray(vectors, dtype=np.float32)), types, manifest)

    def load_or_build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
        return self.build(config, encoder, tokenizer, progress=progress)

    def library(self, config: Config, build: Callable[[dict[str, bytes | None]], Index],
                publish: Callable[[Index], None]) -> Library:
        return Library(config, build, publish)


BACKEND = MemoryBackend()
