"""Search: BM25, dense, and the hybrid (fusion, then re-ranking) that the server uses."""

from __future__ import annotations

import functools
import time

import numpy as np

from qa.config import Config
from qa.ingest.documents import Hit
from qa.language import analysis
from qa.language.tokenize import Tokenizer
from qa.models.dense import Encoder
from qa.search import rerank
from qa.search.fusion import fuse
from qa.storage.filters import ArticleTable, Filters
from qa.storage.index import Index

# Re-ranking points a chat's follow-up gives the passages of the article its previous answer came from:
# about a fifth of a typical best score, so a clearly better passage elsewhere still wins.
PREFER_BONUS = 6.0
PASSAGE_CACHE = 20_000  # prepared passages kept (a few KB each): the popular part of a large archive
_NONE = np.empty(0, dtype=np.int64)


class Retriever:
    """Ranks the chunks of an index for a question."""

    def __init__(self, index: Index, encoder: Encoder, tokenizer: Tokenizer, config: Config):
        self.index, self.encoder, self.tokenizer, self.config = index, encoder, tokenizer, config
        # A passage's sentence texts, bigram sets and answer types are prepared when it is first re-ranked and
        # kept for the next requests: preparing every passage at start-up held most of a large index's memory
        # and start-up time (100k passages: 3.6 GB and 34.5 s before, 1.2 GB and 10.8 s now; BENCHMARKS.md).
        self.passage = functools.lru_cache(maxsize=PASSAGE_CACHE)(self._passage)
        by_article: dict[str, list[int]] = {}
        for i, c in enumerate(index.corpus.chunks):
            by_article.setdefault(c.article_id, []).append(i)
        self.article_chunks = {a: np.array(ids, dtype=np.int64) for a, ids in by_article.items()}
        self.table = ArticleTable(list(index.corpus.articles.values()), index.corpus.chunks)

    def _passage(self, i: int) -> analysis.Passage:
        chunk = self.chunks[i]
        return analysis.passage(chunk.text, chunk.sentences, self.index.types[i], self.index.corpus.headline(chunk),
                                self.tokenizer)

    @property
    def chunks(self):
        return self.index.corpus.chunks

    def bm25(self, question: str, k: int) -> list[Hit]:
        scores, ids = self.index.store.keyword(self.tokenizer(question), k)
        return [Hit(self.chunks[i], float(s), {"bm25": float(s)}) for s, i in zip(scores, ids)]

    def dense(self, question: str, k: int) -> list[Hit]:
        scores, ids = self.index.store.nearest(self.encoder.encode_query(question), k)
        return [Hit(self.chunks[i], float(s), {"dense": float(s)}) for s, i in zip(scores, ids)]

    def analyse(self, question: str) -> analysis.Question:
        """The question's words, IDF weights, bigrams and asked type: computed once per request."""
        return analysis.question(question, self.tokenizer, self.index.store.idf)

    def hybrid(self, question: str, k: int, timings: dict[str, float] | None = None,
               analysed: analysis.Question | None = None, prefer_article: str | None = None,
               filters: Filters | None = None) -> list[Hit]:
        """Union of both top-N lists, exact scores of both for each, fused, then the top re-ranked.

        Milliseconds per stage go into `timings` when the caller passes a dict; a caller that also
        extracts an answer passes the question it already analysed. The passages of `prefer_article`
        (a chat's previous answer) are always candidates and gain PREFER_BONUS in the re-ranking.
        With `filters`, only the chunks of the articles they pass are searched (none: no hits).
        """
        started = time.perf_counter()
        within = self.table.select(filters) if filters else None
        if within is not None and not within.mask.any():
            if timings is not None:
                timings.update(embed=0.0, search=(time.perf_counter() - started) * 1000)
            return []
        query = self.encoder.encode_query(question)
        embedded = time.perf_counter()
        preferred = self.article_chunks.get(prefer_article, _NONE)
        ids, bm25, cosine = self.index.store.candidates(self.tokenizer(question), query, self.config.candidates,
                                                        preferred, within)
        fused = fuse(bm25, cosine, self.config.dense_weight)
        order = np.argsort(-fused, kind="stable")[: self.config.rerank_depth]
        if len(preferred):  # the preferred article's passages are re-ranked even when fusion ranked them low
            order = np.union1d(order, np.flatnonzero(np.isin(ids, preferred)))
        q = analysed or self.analyse(question)
        # Relative to the best candidate, not min-max: the top candidates' margins are what separates them.
        bm25_n = bm25[order] / max(float(bm25[order].max(initial=0.0)), 1e-9)
        cosine_n = cosine[order] - float(cosine[order].max(initial=0.0))
        candidates = [self.chunks[int(ids[pos])] for pos in order]
        hits = []
        for j, (pos, chunk) in enumerate(zip(order, candidates)):
            m = rerank.match(q, self.passage(int(ids[pos])), (float(bm25_n[j]), float(cosine_n[j])))
            scores = dict(zip(rerank.FEATURES, m.features.tolist()))
            scores |= {"bm25_raw": float(bm25[pos]), "cosine": float(cosine[pos]), "fused": float(fused[pos]),
                       "best_sentence": m.best_sentence}
            bonus = PREFER_BONUS if chunk.article_id == prefer_article else 0.0
            hits.append(Hit(chunk, rerank.score(m) + bonus, scores))
        hits.sort(key=lambda h: -h.score)
        if timings is not None:  # search = BM25, ANN, fusion and re-ranking
            timings.update(embed=(embedded - started) * 1000, search=(time.perf_counter() - embedded) * 1000)
        return hits[:k]
