"""Searching the chunks collection: keyword and vector top-n, each bringing the other half's vectors, and the
filter expression over the chunks' scalar fields."""

from __future__ import annotations

from collections import Counter

import numpy as np
from pymilvus import MilvusClient

from qa.ingest.documents import Article
from qa.storage.filters import Filters, Selection, day_key, people
from qa.storage.milvus.client import Names, unavailable
from qa.storage.milvus.terms import term_key, token_id
from qa.storage.sparse import lucene_idf
from qa.storage.store import Candidates, Store

MAX_PEOPLE = 64  # names kept per article in the `people` filter field (Milvus arrays have a fixed capacity)
SEARCH_LIMIT = 16_384  # Milvus's largest top-k
EF_SEARCH = 128  # HNSW search breadth of qa/storage/ann.py's FaissHNSW
IDF_CACHE = 100_000  # tokens whose IDF a store keeps


class MilvusStore(Store):
    """Searches the chunks collection; a passage's key is its chunk id (the primary key), so a server holds no
    list of the archive's passages. `documents` is the generation's chunk count (its manifest's)."""

    kind = "milvus"

    def __init__(self, client: MilvusClient, names: Names, documents: int):
        self.client, self.names, self.documents = client, names, documents
        self._idf: dict[str, float] = {}

    @property
    def size(self) -> int:
        return self.documents

    def idf(self, tokens: list[str]) -> list[float]:
        # One read per token (get, not `in` then []): another request's thread may clear the cache in between.
        known = {t: idf for t in tokens if (idf := self._idf.get(t)) is not None}
        missing = list(dict.fromkeys(t for t in tokens if t not in known))
        if missing:
            with unavailable("cannot read document frequencies"):
                rows = self.client.get(self.names.records, ids=[term_key(t) for t in missing], output_fields=["body"])
            df = {row["key"]: int(row["body"]) for row in rows}
            fetched = {t: lucene_idf(df.get(term_key(t), 0), self.documents) for t in missing}
            if len(self._idf) > IDF_CACHE:
                self._idf.clear()
            self._idf.update(fetched)
            known |= fetched
        return [known[t] for t in tokens]

    def query_vector(self, tokens: list[str]) -> dict[int, float]:
        """Each token's IDF times its count (bm25s counts a repeated query token again); tokens no passage
        holds are left out (they have no postings to find)."""
        counts = Counter(tokens)
        unseen = lucene_idf(0, self.documents)
        vector: dict[int, float] = {}
        for token, weight in zip(counts, self.idf(list(counts))):
            if weight < unseen:
                vector[token_id(token)] = vector.get(token_id(token), 0.0) + weight * counts[token]
        return vector

    def _search(self, data, field: str, n: int, other: str = "id",
                within: Selection | None = None) -> list[tuple[str, float, object]]:
        """(chunk id, score, the `other` field) of the n best rows for a sparse or dense query vector; with
        `within`, of the rows its filters pass (a filter expression over the scalar fields)."""
        if n <= 0 or not self.documents or not len(data):
            return []
        with unavailable("cannot search the Milvus collections"):
            # `ef` is HNSW's search breadth (at least the top k; FLAT and the sparse index ignore it).
            found = self.client.search(self.names.chunks, data=[data], anns_field=field, limit=min(n, SEARCH_LIMIT),
                                       output_fields=[other], filter=expression(within.filters) if within else "",
                                       search_params={"metric_type": "IP", "params": {
                                           "ef": max(EF_SEARCH, min(n, SEARCH_LIMIT))}})[0]
        return [(h["id"], h["distance"], h["entity"].get(other)) for h in found]

    @staticmethod
    def _arrays(hits: list[tuple[str, float, object]]) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([s for _, s, _ in hits], dtype=np.float32).reshape(-1),
                np.array([i for i, _, _ in hits], dtype=object).reshape(-1))

    def keyword(self, tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._arrays(self._search(self.query_vector(tokens), "sparse", n))

    def nearest(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._arrays(self._search(np.asarray(query, dtype=np.float32).tolist(), "dense", n))

    def candidates(self, tokens: list[str], query: np.ndarray, n: int, extra: np.ndarray,
                   within: Selection | None = None) -> Candidates:
        """Each search brings the other half's vector of its rows (one round trip less than fetching them
        after: Milvus Lite's get costs as much as a search), so every candidate is scored exactly by both."""
        vector = self.query_vector(tokens)
        bm25: dict[str, float] = {}
        cosine: dict[str, float] = {}
        for i, score, dense in self._search(vector, "sparse", n, "dense", within):
            bm25[i], cosine[i] = score, float(np.dot(dense, query))
        for i, score, sparse in self._search(np.asarray(query, dtype=np.float32).tolist(), "dense", n, "sparse", within):
            cosine[i], bm25[i] = score, bm25.get(i) or _dot(sparse, vector)
        missing = [str(i) for i in extra if str(i) not in cosine]
        if missing:
            passing = f" and {expression(within.filters)}" if within else ""
            with unavailable("cannot read passages"):
                rows = self.client.query(self.names.chunks, filter=f"id in {literals(missing)}{passing}",
                                         output_fields=["id", "dense", "sparse"])
            for row in rows:  # a row an update removed meanwhile does not come back: left out
                i = row["id"]
                bm25[i], cosine[i] = _dot(row["sparse"], vector), float(np.dot(row["dense"], query))
        ids = np.array(sorted(cosine), dtype=object)
        return Candidates(ids, np.array([bm25[i] for i in ids], dtype=np.float32),
                          np.array([cosine[i] for i in ids], dtype=np.float32))


def expression(filters: Filters) -> str:
    """A Milvus filter expression over the chunks' scalar fields that passes what `filters` passes
    (qa.storage.filters.Filters.matches): the same fields, and the same comparison of days without a year."""
    parts = []
    if filters.article is not None:
        parts.append(f"article_id == {literal(filters.article)}")
    if filters.page is not None:
        parts.append(f"page == {literal(filters.page)}")
    if filters.reporter is not None:
        parts.append(f"ARRAY_CONTAINS(people, {literal(filters.reporter)})")
    if filters.date_from is not None or filters.date_to is not None:
        parts.append("month_day > 0")
    sides = []
    for bound, op in ((filters.date_from, ">="), (filters.date_to, "<=")):
        if bound is not None and bound.year:
            sides.append(f"((year > 0 and day_key {op} {bound.year * 10000 + bound.month_day}) or "
                         f"(year == 0 and month_day {op} {bound.month_day}))")
        elif bound is not None:
            sides.append(f"month_day {op} {bound.month_day}")
    parts += [f"({' or '.join(sides)})"] if filters.wraps else sides  # across New Year: either side
    return " and ".join(parts)


def literals(texts: list[str]) -> str:
    """A list literal of Milvus's expression language."""
    return "[" + ", ".join(map(literal, texts)) + "]"


def literal(text: str) -> str:
    """A string literal of Milvus's expression language (this Milvus Lite takes no filter templates)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_fields(article: Article) -> dict:
    """A chunk row's copy of its article's filter fields."""
    key = day_key(article)
    return {"people": list(dict.fromkeys(people(article)))[:MAX_PEOPLE], "month_day": key % 10000,
            "year": key // 10000, "day_key": key}


def _dot(sparse: dict[int, float], vector: dict[int, float]) -> float:
    return sum(w * sparse.get(t, 0.0) for t, w in vector.items())
