"""The collections' layout (see the package's docstring): full builds beside the current ones, page updates, and
the index of one generation a server serves from (its manifest: the records are read per request)."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.client.types import LoadState

from qa.config import Config
from qa.errors import IndexMismatch, NotReady
from qa.indexing.corpus import Corpus
from qa.indexing.encode import encode_corpus
from qa.indexing.manifest import new_manifest, settings_of
from qa.ingest.documents import Article, Chunk
from qa.ingest.pages import decode_page
from qa.language.tokenize import Tokenizer
from qa.models.dense import EmbeddingCache, Encoder
from qa.storage.index import Index, check_format
from qa.storage.milvus.client import BATCH, Names, connect, rows, shown, unavailable
from qa.storage.milvus.records import MilvusRecords
from qa.storage.milvus.search import MAX_PEOPLE, MilvusStore, filter_fields
from qa.storage.milvus.terms import term_key, term_weights
from qa.storage.records import byline_names, matchable
from qa.storage.sparse import K1, B

MILVUS_FORMAT = 3  # 3: an articles collection; passages carry their raw text and article summary; counts kept
PAGE_PART = 16_000  # characters of page text per record: at most 64,000 bytes in a 65,535-byte VARCHAR
MAX_TEXT = 65_535
NEXT = "__next"  # suffix of the collections a full build writes before they take the current ones' place
_MANIFEST = "manifest"
log = logging.getLogger(__name__)


class Collections:
    """Writes and reads the layout above: full builds, page updates, and the index a server serves from."""

    def __init__(self, config: Config, client: MilvusClient | None = None):
        self.config, self.names = config, Names(config.milvus_collection)
        self.client = client or connect(config)
        self.where = f"the Milvus collections {config.milvus_collection}_* at {shown(config.milvus_uri)}"

    # -- reading ------------------------------------------------------------------------------
    def exists(self) -> bool:
        with unavailable(f"cannot read {self.where}"):
            return any(self.client.has_collection(name) for name in self.names)

    def manifest(self) -> dict | None:
        """The manifest row (read strongly: the newest write of any process), None when there is none."""
        with unavailable(f"cannot read {self.where}"):
            if not self.client.has_collection(self.names.records):
                return None
            self._load(self.names)
            rows = self.client.get(self.names.records, ids=[_MANIFEST], output_fields=["body"],
                                   consistency_level="Strong")
        return json.loads(rows[0]["body"]) if rows else None

    def _load(self, names: Names) -> None:
        """Milvus Lite opens its collections released; a server keeps them loaded (this is then a no-op)."""
        for name in names:
            if self.client.has_collection(name) and self.client.get_load_state(name)["state"] != LoadState.Loaded:
                self.client.load_collection(name)

    def generation(self) -> int | None:
        manifest = self.manifest()
        return manifest and manifest.get("generation")

    def load(self) -> Index | None:
        """The index of the current generation (its manifest; records and searches are read from the collections
        per request); None when there are no collections."""
        manifest = self.manifest()
        if manifest is None:
            if self.exists():
                raise NotReady(f"{self.where} have no manifest: a build is running or failed; run "
                               f"`python -m qa build`")
            return None
        check_manifest(manifest, self.config)
        return Index(MilvusRecords(self.client, self.names, self.config.records_cache),
                     MilvusStore(self.client, self.names, manifest["counts"]["chunks"]), manifest)

    def page_names(self) -> set[str]:
        """The pages the archive holds (unreadable ones included), as of now."""
        return set(self.meta())

    def meta(self, names: list[str] | None = None) -> dict[str, dict]:
        """Each page's sha256, size, counts of articles and chunks and (unreadable pages) why it was skipped; of
        the pages named, or of all."""
        with unavailable(f"cannot read {self.where}"):
            self._load(self.names)
            if names is not None:
                found = self.client.get(self.names.records, ids=[f"m:{name}" for name in names],
                                        output_fields=["page", "body"], consistency_level="Strong")
            else:
                found = rows(self.client, self.names.records, 'kind == "meta"', ["page", "body"])
            return {row["page"]: json.loads(row["body"]) for row in found}

    def pages(self) -> dict[str, str]:
        """Every page's raw text (a full build reads the archive whole)."""
        parts: dict[str, list[tuple[str, str]]] = {}
        with unavailable(f"cannot read {self.where}"):
            for row in rows(self.client, self.names.records, 'kind == "page"', ["key", "page", "body"]):
                parts.setdefault(row["page"], []).append((row["key"], row["body"]))
        return {name: "".join(text for _, text in sorted(parts[name])) for name in sorted(parts)}

    # -- writing ------------------------------------------------------------------------------
    def build(self, corpus: Corpus, meta: dict[str, dict], encoder: Encoder, tokenizer: Tokenizer,
              cache: EmbeddingCache | None, progress: bool) -> Index:
        """Write a corpus into new collections beside the current ones, then put them in their place: a failed
        build leaves the archive as it was, and readers miss it only for the moment of the two renames.
        `meta` is each page's sha256, bytes and (unreadable pages) why it was skipped."""
        started = time.perf_counter()
        tokens, vectors, types = encode_corpus(corpus, encoder, tokenizer, cache, progress)
        return self.write(corpus, meta, encoder, tokenizer, (tokens, vectors, types),
                          cache.last_encoded if cache else None, started)

    def write(self, corpus: Corpus, meta: dict[str, dict], encoder: Encoder, tokenizer: Tokenizer,
              encoded: tuple[list[list[str]], np.ndarray, list], encoded_chunks: int | None, started: float) -> Index:
        """The second half of a build: a corpus and what `encode_corpus` made of it, written beside the current
        collections, which they then replace."""
        tokens, vectors, types = encoded
        previous = self.manifest() if self.exists() else None
        # The generation goes on from the collections replaced (servers that follow them see a new one); with
        # none to go on from, a clock reading cannot be one a server still holds.
        generation = (previous.get("generation") if previous else None) or time.time_ns()
        avgdl = sum(map(len, tokens)) / max(len(tokens), 1)
        manifest = new_manifest(corpus, encoder, MilvusStore.kind) | {
            "milvus_format": MILVUS_FORMAT, "generation": generation + 1, "bm25": {"k1": K1, "b": B, "avgdl": avgdl},
            "settings": settings_of(self.config), "encoded_chunks": encoded_chunks}
        building = Collections(self.config, self.client)
        building.names = Names(self.config.milvus_collection, NEXT)
        with unavailable(f"cannot write {self.where}"):
            building._create(encoder.dim, len(corpus.chunks))
            building._insert_pages(corpus, meta, tokens, vectors, types, avgdl, tokenizer.prepare)
            df = Counter(t for chunk_tokens in tokens for t in set(chunk_tokens))
            building._insert(building.names.records, [_term(t, n) for t, n in df.items()])
            building._write_manifest(manifest | {"build_seconds": round(time.perf_counter() - started, 2)})
            for old, new in zip(self.names, building.names):
                if self.client.has_collection(old):
                    self.client.drop_collection(old)
                self.client.rename_collection(new, old)
        return self.load()

    def update(self, changes: dict[str, bytes | None], encoder: Encoder, tokenizer: Tokenizer,
               cache: EmbeddingCache | None) -> Index:
        """Replace (bytes) or remove (None) pages: the new passages are embedded first, then the page's rows go,
        the new ones come, and the document frequencies follow. A failure midway can leave the frequencies
        off: `python -m qa build` counts them again."""
        manifest = self.manifest()
        if manifest is None:
            raise NotReady(f"{self.where} are not built yet: run `python -m qa build`")
        check_manifest(manifest, self.config)
        check_compatible(manifest, self.config, encoder.fingerprint)
        started = time.perf_counter()
        added = {name: data for name, data in changes.items() if data is not None}
        corpus = Corpus.from_pages({name: decode_page(data, name) for name, data in added.items()}, self.config)
        tokens, vectors, types = encode_corpus(corpus, encoder, tokenizer, cache, progress=False)
        meta = {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in added.items()}
        df = Counter(t for chunk_tokens in tokens for t in set(chunk_tokens))
        counts, skipped = dict(manifest["counts"]), dict(manifest["skipped"])
        with unavailable(f"cannot write {self.where}"):
            for name, old in self.meta(list(changes)).items():  # the counts of the pages replaced or removed
                counts = {"pages": counts["pages"] - 1, "articles": counts["articles"] - old["articles"],
                          "chunks": counts["chunks"] - old["chunks"]}
                skipped.pop(name, None)
            for name in changes:
                page = f"page == {json.dumps(name, ensure_ascii=False)}"  # PAGE_NAME allows no quote, no backslash
                for row in rows(self.client, self.names.chunks, page, ["text", "headline"]):
                    df.subtract(set(tokenizer(Chunk("", "", name, row["text"], 0, 0).indexed_text(row["headline"]))))
                for collection in self.names:
                    self.client.delete(collection, filter=page)
            self._insert_pages(corpus, meta, tokens, vectors, types, manifest["bm25"]["avgdl"], tokenizer.prepare)
            self._add_document_frequencies(df)
            counts = {"pages": counts["pages"] + len(added), "articles": counts["articles"] + len(corpus.articles),
                      "chunks": counts["chunks"] + len(corpus.chunks)}
            manifest |= {"generation": manifest["generation"] + 1, "encoded_chunks": cache.last_encoded if cache else None,
                         "counts": counts, "skipped": skipped, "build_seconds": round(time.perf_counter() - started, 2)}
            self._write_manifest(manifest)
        return self.load()

    def _write_manifest(self, manifest: dict) -> None:
        """Last: readers take a new generation from it."""
        manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._insert(self.names.records, [_record(_MANIFEST, "manifest", "", json.dumps(manifest, ensure_ascii=False))])

    def _create(self, dim: int, size: int) -> None:
        for name in self.names:
            if self.client.has_collection(name):
                self.client.drop_collection(name)
        chunks = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        chunks.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        for name in ("page", "article_id"):
            chunks.add_field(name, DataType.VARCHAR, max_length=512)
        chunks.add_field("seq", DataType.INT64)
        for name in ("headline", "text"):
            chunks.add_field(name, DataType.VARCHAR, max_length=MAX_TEXT)
        chunks.add_field("start", DataType.INT64)
        chunks.add_field("end", DataType.INT64)
        chunks.add_field("record", DataType.JSON)
        chunks.add_field("people", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_PEOPLE,
                         max_length=512)
        for name in ("month_day", "year", "day_key"):
            chunks.add_field(name, DataType.INT64)
        chunks.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        index = self.client.prepare_index_params()
        if size < self.config.ann_exact_below:
            index.add_index("dense", index_type="FLAT", metric_type="IP")
        else:  # the graph index FAISS keeps recall with (qa/storage/ann.py); a cluster takes these parameters
            index.add_index("dense", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 64})
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self.client.create_collection(self.names.chunks, schema=chunks, index_params=index)
        articles = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        articles.add_field("article_id", DataType.VARCHAR, is_primary=True, max_length=512)
        articles.add_field("page", DataType.VARCHAR, max_length=512)
        articles.add_field("seq", DataType.INT64)
        articles.add_field("record", DataType.JSON)
        for name in ("title", "plain", "names"):
            articles.add_field(name, DataType.VARCHAR, max_length=MAX_TEXT)
        articles.add_field("people", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_PEOPLE,
                           max_length=512)
        for name in ("month_day", "year", "day_key"):
            articles.add_field(name, DataType.INT64)
        articles.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
        index = self.client.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.names.articles, schema=articles, index_params=index)
        records = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        records.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        records.add_field("kind", DataType.VARCHAR, max_length=16)
        records.add_field("page", DataType.VARCHAR, max_length=512)
        records.add_field("body", DataType.VARCHAR, max_length=MAX_TEXT)
        records.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
        index = self.client.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.names.records, schema=records, index_params=index)

    def _insert_pages(self, corpus: Corpus, meta: dict[str, dict], tokens, vectors: np.ndarray, types,
                      avgdl: float, prepare: Callable[[str], str]) -> None:
        """The rows of some pages: passages (each with its raw text and its article's summary: a request reads
        what it answers from in one query), articles (without their body: the page text gives it back; with the
        texts list answers match), page texts in parts, and each page's sha256, size and counts. Rows are made
        batch by batch as they are inserted (a million passages' rows at once would take many GB)."""
        def passages() -> Iterator[dict]:
            seq: Counter = Counter()
            for chunk, chunk_tokens, vector, chunk_types in zip(corpus.chunks, tokens, vectors, types):
                article = corpus.articles[chunk.article_id]
                record = {"sentences": chunk.sentences, "types": chunk_types, "article": _summary(article),
                          "raw": corpus.pages[chunk.page][chunk.start : chunk.end]}
                yield {"id": chunk.id, "page": chunk.page, "article_id": chunk.article_id, "seq": seq[chunk.page],
                       "headline": article.headline, "text": chunk.text, "start": chunk.start, "end": chunk.end,
                       "record": record, **filter_fields(article),
                       "dense": vector.astype(np.float32).tolist(), "sparse": term_weights(chunk_tokens, avgdl)}
                seq[chunk.page] += 1

        def articles() -> Iterator[dict]:
            order: Counter = Counter()
            for article in corpus.articles.values():
                title, plain = matchable(article, prepare)
                yield {"article_id": article.id, "page": article.page, "seq": order[article.page],
                       "record": _summary(article), "title": _fitted(title), "plain": _fitted(plain),
                       "names": json.dumps(sorted(byline_names(article)), ensure_ascii=False),
                       **filter_fields(article), "unused": [0.0, 0.0]}
                order[article.page] += 1

        def records() -> Iterator[dict]:
            for name, text in corpus.pages.items():
                for i in range(0, max(len(text), 1), PAGE_PART):
                    yield _record(f"p:{name}#{i // PAGE_PART:05d}", "page", name, text[i : i + PAGE_PART])
            counted = Counter(a.page for a in corpus.articles.values()), Counter(c.page for c in corpus.chunks)
            for name, m in meta.items():
                yield _record(f"m:{name}", "meta", name, json.dumps(m | {"articles": counted[0][name],
                                                                         "chunks": counted[1][name]}))

        self._insert(self.names.chunks, passages())
        self._insert(self.names.articles, articles())
        self._insert(self.names.records, records())

    def _add_document_frequencies(self, delta: Counter) -> None:
        changed = [t for t, n in delta.items() if n]
        current: dict[str, int] = {}
        for start in range(0, len(changed), BATCH):
            keys = [term_key(t) for t in changed[start : start + BATCH]]
            current |= {row["key"]: int(row["body"]) for row in self.client.get(
                self.names.records, ids=keys, output_fields=["body"], consistency_level="Strong")}
        counts = {t: current.get(term_key(t), 0) + delta[t] for t in changed}
        gone = [term_key(t) for t, n in counts.items() if n <= 0]
        if gone:
            self.client.delete(self.names.records, ids=gone)
        self._insert(self.names.records, [_term(t, n) for t, n in counts.items() if n > 0])

    def _insert(self, collection: str, new: Iterable[dict]) -> None:
        """Upsert in batches, then flush: Milvus searches unflushed rows far more slowly."""
        pending = iter(new)
        while batch := list(itertools.islice(pending, BATCH)):
            self.client.upsert(collection, batch)
        self.client.flush(collection)


def _summary(article: Article) -> dict:
    """An article's record without its body (the page text gives it back)."""
    return asdict(article) | {"body": None}


def _fitted(text: str) -> str:
    """A text cut to fit a VARCHAR field (at most MAX_TEXT bytes of UTF-8): list answers do not match words past
    the first 21,000 or so characters of an article."""
    return text.encode()[:MAX_TEXT].decode(errors="ignore")


def _record(key: str, kind: str, page: str, body: str) -> dict:
    return {"key": key, "kind": kind, "page": page, "body": body, "unused": [0.0, 0.0]}


def _term(token: str, df: int) -> dict:
    return _record(term_key(token), "term", "", str(df))


def check_manifest(manifest: dict, config: Config) -> None:
    """Refuse collections of another layout: this code would misread them."""
    check_format(manifest, f"the Milvus collections {config.milvus_collection}_* at {shown(config.milvus_uri)}",
                 "rebuild them with `python -m qa build` (it reads the pages they hold, from format 2 on), or build a "
                 "new archive under another QA_MILVUS_COLLECTION", {"milvus_format": MILVUS_FORMAT})


def check_compatible(manifest: dict, config: Config, fingerprint: str) -> None:
    """Refuse collections built with other chunk settings or another model than this process's (the model
    is compared by its fingerprint: its folder may lie elsewhere on each machine)."""
    if _portable(manifest.get("settings", {})) != _portable(settings_of(config)) or \
            manifest.get("model", {}).get("fingerprint") != fingerprint:
        raise IndexMismatch(f"the Milvus collections {config.milvus_collection}_* at {shown(config.milvus_uri)} "
                            f"were built with other settings or another model than this process's: rebuild them "
                            f"with `python -m qa build` (every API server must then use the same settings and model)")


def _portable(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k != "model"}
