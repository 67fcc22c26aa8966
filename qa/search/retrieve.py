"""Search: BM25, dense, and the hybrid (fusion, then re-ranking) that the server uses."""

from __future__ import annotations

import time

import numpy as np

from qa.config import Config
from qa.ingest.documents import Hit
from qa.language import analysis
from qa.language.tokenize import Tokenizer
from qa.models.dense import Encoder
from qa.search import rerank
from qa.search.fusion import fuse
from qa.storage.filters import Filters
from qa.storage.index import Index
from qa.storage.records import LRU, Passage

# Re-ranking points a chat's follow-up gives the passages of the article its previous answer came from:
# about a fifth of a typical best score, so a clearly better passage elsewhere still wins.
PREFER_BONUS = 6.0
PASSAGE_CACHE = 20_000  # prepared passages kept (a few KB each): the popular part of a large archive
_NONE = np.empty(0, dtype=np.int64)


class Retriever:
    """Ranks the chunks of an index for a question."""

    def __init__(self, index: Index, encoder: Encoder, tokenizer: Tokenizer, config: Config):
        self.index, self.encoder, self.tokenizer, self.config = index, encoder, tokenizer, config
        self.records = index.records
        # A passage's sentence texts, bigram sets and answer types are prepared when it is first re-ranked and
        # kept for the next requests: preparing every passage at start-up held most of a large index's memory
        # and start-up time (100k passages: 3.6 GB and 34.5 s before, 1.2 GB and 10.8 s now; BENCHMARKS.md).
        self.prepared = LRU(PASSAGE_CACHE)

    def _analysed(self, key, found: Passage) -> analysis.AnalysedPassage:
        prepared = self.prepared.get(key)
        if prepared is None:
            chunk = found.chunk
            prepared = analysis.passage(chunk.text, chunk.sentences, found.types, found.headline, self.tokenizer)
            self.prepared.put(key, prepared)
        return prepared

    def _hits(self, scores: np.ndarray, keys: np.ndarray, name: str) -> list[Hit]:
        return [Hit(p.chunk, float(s), {name: float(s)}) for s, p in zip(scores, self.records.passages(list(keys)))
                if p is not None]

    def bm25(self, question: str, k: int) -> list[Hit]:
        return self._hits(*self.index.store.keyword(self.tokenizer(question), k), "bm25")

    def dense(self, question: str, k: int) -> list[Hit]:
        return self._hits(*self.index.store.nearest(self.encoder.encode_query(self.tokenizer.simplified(question)), k),
                          "dense")

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
        The records of the re-ranked candidates are read in one call (one query of a shared store).
        """
        started = time.perf_counter()
        within = self.records.select(filters) if filters else None
        if within is not None and within.empty:
            if timings is not None:
                timings.update(embed=0.0, search=(time.perf_counter() - started) * 1000)
            return []
        query = self.encoder.encode_query(self.tokenizer.simplified(question))  # passages are embedded simplified too
        embedded = time.perf_counter()
        preferred = self.records.article_passages(prefer_article)[0] if prefer_article else _NONE
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
        found = self.records.passages([ids[pos] for pos in order])
        hits = []
        for j, (pos, passage) in enumerate(zip(order, found)):
            if passage is None:  # removed by an update since the search
                continue
            m = rerank.match(q, self._analysed(ids[pos], passage), (float(bm25_n[j]), float(cosine_n[j])))
            scores = dict(zip(rerank.FEATURES, m.features.tolist()))
            scores |= {"bm25_raw": float(bm25[pos]), "cosine": float(cosine[pos]), "fused": float(fused[pos]),
                       "best_sentence": m.best_sentence}
            bonus = PREFER_BONUS if passage.chunk.article_id == prefer_article else 0.0
            hits.append(Hit(passage.chunk, rerank.score(m) + bonus, scores))
        hits.sort(key=lambda h: -h.score)
        if timings is not None:  # search = BM25, ANN, fusion, the records and re-ranking
            timings.update(embed=(embedded - started) * 1000, search=(time.perf_counter() - embedded) * 1000)
        return hits[:k]


def outranks_favoured(hit: Hit, favoured_best: Hit) -> bool:
    """Whether `hit` matches its question better than the best hit of a search that favoured an article
    (`prefer_article`) matches its own, the favour (PREFER_BONUS) left out: re-ranking scores are compared here,
    in the stage that makes them."""
    return hit.score > favoured_best.score - PREFER_BONUS
