"""The records an API server reads from the collections per request (no copy of the archive in the server): the
passages it re-ranks and answers from, fetched by primary key in one query and kept in a bounded LRU, articles,
page texts, and the list answers' texts, matched by Milvus."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Hashable, Sequence

import numpy as np
from pymilvus import MilvusClient

from qa.errors import StoreUnavailable
from qa.ingest.documents import Article, Chunk
from qa.ingest.normalize import normalise
from qa.storage.filters import Filters, Paging
from qa.storage.index import record_of
from qa.storage.milvus.client import Names, rows, unavailable
from qa.storage.milvus.search import expression, literal, literals
from qa.storage.records import LRU, Passage, Records

PASSAGE_FIELDS = ["id", "page", "article_id", "text", "start", "end", "record"]
ARTICLE_FIELDS = ["page", "seq", "record"]
PAGE_CACHE = 64  # page texts kept (citations and record answers read them; about 10-30 KB each)
# Every read sees the newest writes: a server follows a new generation within a second of its manifest (read
# strongly), and what it reads then is kept in its caches for the generation's life.
STRONG = "Strong"
_LIKE_SPECIAL = re.compile(r'[%_\\"]')  # characters a LIKE pattern would read otherwise: the pattern is cut there


class MilvusRecords(Records):
    """Reads the chunks, articles and records collections of one generation; keys are chunk ids. What it reads is
    kept in LRUs of `passages` passages and PAGE_CACHE pages: a server's memory does not grow with the archive."""

    def __init__(self, client: MilvusClient, names: Names, passages: int):
        self.client, self.collections = client, names
        self._passages = LRU(passages)
        self._pages = LRU(PAGE_CACHE)
        self._names: frozenset[str] | None = None
        self._lock = threading.Lock()

    # -- passages ---------------------------------------------------------------------------------
    def passages(self, keys: Sequence[Hashable]) -> list[Passage | None]:
        found = {key: self._passages.get(key) for key in dict.fromkeys(keys)}
        missing = [str(key) for key, passage in found.items() if passage is None]
        if missing:  # one lookup by primary key for all the passages not kept yet
            with unavailable("cannot read passages"):
                fetched = self.client.query(self.collections.chunks, filter=f"id in {literals(missing)}",
                                            output_fields=PASSAGE_FIELDS, consistency_level=STRONG)
            for row in fetched:
                found[row["id"]] = self._keep(row)
        return [found[key] for key in keys]

    def _keep(self, row: dict) -> Passage:
        record = row["record"]
        chunk = Chunk(row["id"], row["article_id"], row["page"], row["text"], row["start"], row["end"],
                      tuple(tuple(s) for s in record["sentences"]))
        passage = Passage(chunk, record_of(Article, record["article"] | {"body": ""}), record["types"], record["raw"])
        self._passages.put(chunk.id, passage)
        return passage

    def _of(self, chunk: Chunk) -> Passage:
        passage = self.passage(chunk.id)
        if passage is None:  # an update removed it after this request read it (and it left the LRU since)
            raise StoreUnavailable.gone(chunk.id)
        return passage

    def cited(self, chunk_id: str) -> Passage | None:
        return self.passage(chunk_id)

    def article_of(self, chunk: Chunk) -> Article:
        return self._of(chunk).article

    def raw(self, chunk: Chunk) -> str:
        return self._of(chunk).raw

    def article_passages(self, article_id: str) -> tuple[np.ndarray, list[Chunk]]:
        with unavailable("cannot read passages"):
            found = sorted(self.client.query(self.collections.chunks, filter=f"article_id == {literal(article_id)}",
                                             output_fields=[*PASSAGE_FIELDS, "seq"], consistency_level=STRONG),
                           key=lambda row: row["seq"])
        chunks = [self._keep(row).chunk for row in found]
        return np.array([c.id for c in chunks], dtype=object), chunks

    # -- articles and pages -----------------------------------------------------------------------
    def article(self, article_id: str) -> Article | None:
        with unavailable("cannot read articles"):
            found = self.client.query(self.collections.articles, filter=f"article_id == {literal(article_id)}",
                                      output_fields=["record"], consistency_level=STRONG)
        page = self.page(found[0]["record"]["page"]) if found else None
        if page is None:
            return None
        fields = found[0]["record"]  # the body is taken again from the page text (Article's own invariant)
        return record_of(Article, fields | {"body": normalise(page[fields["body_start"] : fields["body_end"]])})

    def articles(self, filters: Filters = Filters()) -> list[Article]:
        return [article for article, _, _ in self._matching(filters, [], fields=ARTICLE_FIELDS)]

    def listing(self, filters: Filters, paging: Paging, newest: bool = False) -> tuple[int, list[Article]]:
        """The order is read from the articles' small fields alone; only the page's records are fetched (one query)."""
        with unavailable("cannot read articles"):
            found = list(rows(self.client, self.collections.articles, expression(filters) or 'article_id != ""',
                              ["article_id", "page", "seq", "day_key"]))
            found.sort(key=lambda row: ((-row["day_key"],) if newest else ()) + (row["page"], row["seq"]))
            ids = [row["article_id"] for row in paging.of(found)]
            records = {row["article_id"]: row["record"] for row in self.client.query(
                self.collections.articles, filter=f"article_id in {literals(ids)}",
                output_fields=["article_id", "record"], consistency_level=STRONG)} if ids else {}
        return len(found), [record_of(Article, records[i] | {"body": ""}) for i in ids if i in records]

    def page(self, name: str) -> str | None:
        return self.pages([name]).get(name)

    def pages(self, names: Sequence[str]) -> dict[str, str]:
        """Those not kept yet in one query."""
        texts = {name: text for name in dict.fromkeys(names) if (text := self._pages.get(name)) is not None}
        missing = [name for name in dict.fromkeys(names) if name not in texts]
        if missing:
            with unavailable("cannot read page texts"):
                parts = self.client.query(self.collections.records,
                                          filter=f'kind == "page" and page in {literals(missing)}',
                                          output_fields=["key", "page", "body"], consistency_level=STRONG)
            for name in missing:
                mine = sorted((part for part in parts if part["page"] == name), key=lambda part: part["key"])
                if mine:
                    texts[name] = "".join(part["body"] for part in mine)
                    self._pages.put(name, texts[name])
        return texts

    def texts(self, filters: Filters, printing: list[str], limit: int | None = None) -> list[tuple[Article, str, str]]:
        """Milvus matches the texts (LIKE over the `plain` field that the build made with `matchable`); each match
        is checked here again, as the pattern leaves out LIKE's special characters."""
        return self._matching(filters, printing, [*ARTICLE_FIELDS, "title", "plain"], limit)

    def _matching(self, filters: Filters, printing: list[str], fields: list[str],
                  limit: int | None = None) -> list[tuple[Article, str, str]]:
        parts = [expression(filters) or 'article_id != ""']
        parts += [f'plain like "%{piece}%"' for p in printing for piece in _LIKE_SPECIAL.split(p) if piece]
        found = []
        with unavailable("cannot read articles"):
            for row in rows(self.client, self.collections.articles, " and ".join(parts), fields):
                if all(p in row.get("plain", "") for p in printing):
                    found.append(row)
                    if limit is not None and len(found) >= limit:
                        break
        found.sort(key=lambda row: (row["page"], row["seq"]))
        return [(record_of(Article, row["record"] | {"body": ""}), row.get("title", ""), row.get("plain", ""))
                for row in found]

    def names(self) -> frozenset[str]:
        with self._lock:  # once per generation, when it is loaded or followed (warm)
            if self._names is None:
                with unavailable("cannot read articles"):
                    found = rows(self.client, self.collections.articles, 'article_id != ""', ["names"])
                    self._names = frozenset(name for row in found for name in json.loads(row["names"]))
            return self._names

    def stats(self) -> dict:
        return {"passages": self._passages.stats(), "pages": self._pages.stats()}
