"""The Milvus store: chunks, vectors and BM25 weights in Milvus collections that every API server shares.

Layout (MILVUS_FORMAT; collection names start with QA_MILVUS_COLLECTION, `qa` by default):

- `<prefix>_chunks`, a row per chunk: `id` (primary key: the chunk id), `page`, `article_id`, `seq` (the chunk's
  place in its page), `headline`, `text`, `start`/`end` (raw offsets in the page file), `record` (JSON: sentence
  offsets and answer types), the article's filter fields (`people`: everyone its bylines name; `month_day`
  (MMDD), `year` and `day_key` (year × 10000 + MMDD), 0 without a printed date or year), `dense` (the passage vector; IP of normalised vectors = cosine) and `sparse` (per
  token, keyed by a 32-bit hash of it, the BM25 term-frequency part tf / (tf + k1 (1 - b + b dl / avgdl))).
  A query's sparse vector holds each token's IDF (times its count): their inner product is bm25s's score.
- `<prefix>_records`, small records by `key`: the manifest (`manifest`: format, model, settings, avgdl, generation;
  counts are read, not stored), each page's sha256 and size (`m:<name>`), page texts in parts (`p:<name>#<part>`,
  for citations), articles without their body (`a:<id>`, JSON; the page text gives the body back), and each
  token's document frequency (`t:<token>`, for IDF).

The weights are computed here, not by Milvus's BM25 function: the tokens are the embedded store's own (jieba
search mode after NFKC, simplified Chinese and stopwords), IDF stays exact after incremental updates (only the
average length is kept from the last full build), and the question analysis needs the IDF too (BENCHMARKS.md,
Milvus, has both measured).

API servers keep no state of their own: each mirrors the texts and answer types of the manifest's generation
(re-read when an update anywhere bumps it) and asks Milvus for every search; each search brings the other half's
vectors of its rows, so every candidate is scored exactly by both.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.client.types import LoadState

from qa.config import MILVUS_SERVER_SCHEMES, Config
from qa.dense import EmbeddingCache, Encoder
from qa.documents import Article, Chunk
from qa.errors import IndexMismatch, NotReady, StoreUnavailable
from qa.filters import Day, Filters, Selection, people
from qa.index import (
    FORMAT_VERSION,
    Corpus,
    Index,
    encode_corpus,
    new_manifest,
    read_seeds,
    record_of,
    seed_checksums,
    settings_of,
)
from qa.library import Library, page_counts
from qa.normalize import normalise
from qa.parse import decode_page
from qa.sparse import K1, B, lucene_idf
from qa.store import Candidates, Store
from qa.tokenize import Tokenizer

MILVUS_FORMAT = 2
MAX_PEOPLE = 64  # names kept per article in the `people` filter field (Milvus arrays have a fixed capacity)
BATCH = 1000  # rows per insert
PAGE_PART = 16_000  # characters of page text per record: at most 64,000 bytes in a 65,535-byte VARCHAR
MAX_TEXT = 65_535
SEARCH_LIMIT = 16_384  # Milvus's largest top-k
EF_SEARCH = 128  # HNSW search breadth of qa/ann.py's FaissHNSW
IDF_CACHE = 100_000  # tokens whose IDF a store keeps
REFRESH_SECONDS = 1.0  # how often a server asks whether another process changed the collections
NEXT = "__next"  # suffix of the collections a full build writes before they take the current ones' place
_MANIFEST = "manifest"
log = logging.getLogger(__name__)


class Names:
    """The collection names of a prefix (a full build writes beside them, under the suffix NEXT)."""

    def __init__(self, prefix: str, suffix: str = ""):
        self.chunks, self.records = f"{prefix}_chunks{suffix}", f"{prefix}_records{suffix}"

    def __iter__(self):
        return iter((self.chunks, self.records))


def connect(config: Config) -> MilvusClient:
    """A client of QA_MILVUS_URI: a `.db` path opens Milvus Lite in this process, `http://…` a server."""
    uri = config.milvus_uri
    with unavailable(f"cannot open Milvus at {shown(uri)}"):
        return MilvusClient(uri if is_remote(uri) else str(Path(uri).resolve()), token=config.milvus_token)


def is_remote(uri: str) -> bool:
    return uri.startswith(MILVUS_SERVER_SCHEMES)


def shown(uri: str) -> str:
    """A URI as logs and error messages show it: without a user or password."""
    parts = urlsplit(uri)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() if (
        is_remote(uri) and parts.hostname) else uri


@contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Milvus errors (a server down, a Milvus Lite file another process holds) as a 503 that says what failed;
    Milvus's own words go to the log, not to the client."""
    try:
        yield
    except (MilvusException, grpc.RpcError) as error:
        log.warning("%s: %s", what, getattr(error, "message", None) or error)
        raise StoreUnavailable(f"{what}: Milvus did not answer or refused (the server log says why)") from error


# Milvus refuses an empty sparse vector: a passage without a word (all stopwords) gets this dimension, which
# no token hashes to and so no query holds.
NO_WORDS = 2**32 - 2


def token_id(token: str) -> int:
    """A token's dimension in the sparse vectors: a stable 32-bit hash, so writers share no vocabulary
    (Milvus takes dimensions below 2**32 - 1)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little") % NO_WORDS


def term_key(token: str) -> str:
    """The record key of a token's document frequency (a hash for a token too long for a key)."""
    key = f"t:{token}"
    return key if len(key.encode()) <= 500 else f"t#{hashlib.sha256(token.encode()).hexdigest()}"


def term_weights(tokens: list[str], avgdl: float) -> dict[int, float]:
    """A chunk's sparse vector: BM25's term-frequency part of each token (IDF comes with the query)."""
    norm = K1 * (1 - B + B * len(tokens) / max(avgdl, 1e-9))
    weights: dict[int, float] = {}
    for token, tf in Counter(tokens).items():
        tid = token_id(token)
        weights[tid] = weights.get(tid, 0.0) + tf / (tf + norm)
    return weights or {NO_WORDS: 1.0}


class MilvusStore(Store):
    """Searches the chunks collection; positions are places in the mirrored chunk list of one generation."""

    kind = "milvus"

    def __init__(self, client: MilvusClient, names: Names, chunk_ids: list[str], documents: int):
        self.client, self.names, self.chunk_ids, self.documents = client, names, chunk_ids, documents
        self.position = {cid: i for i, cid in enumerate(chunk_ids)}
        self._idf: dict[str, float] = {}

    @property
    def size(self) -> int:
        return len(self.chunk_ids)

    def idf(self, tokens: list[str]) -> list[float]:
        known = {t: self._idf[t] for t in tokens if t in self._idf}  # read once: another thread may clear the cache
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
                within: Selection | None = None) -> list[tuple[int, float, object]]:
        """(position, score, the `other` field) of the n best rows for a sparse or dense query vector; with
        `within`, of the rows its filters pass (a filter expression over the scalar fields)."""
        if n <= 0 or not self.chunk_ids or not len(data):
            return []
        with unavailable("cannot search the Milvus collections"):
            # `ef` is HNSW's search breadth (at least the top k; FLAT and the sparse index ignore it).
            found = self.client.search(self.names.chunks, data=[data], anns_field=field, limit=min(n, SEARCH_LIMIT),
                                       output_fields=[other], filter=expression(within.filters) if within else "",
                                       search_params={"metric_type": "IP", "params": {
                                           "ef": max(EF_SEARCH, min(n, SEARCH_LIMIT))}})[0]
        # Rows an update added after this generation was read are not in the mirror yet: left out.
        hits = [(self.position[h["id"]], h["distance"], h["entity"].get(other)) for h in found if h["id"] in self.position]
        return [hit for hit in hits if within is None or within.mask[hit[0]]]

    @staticmethod
    def _arrays(hits: list[tuple[int, float, object]]) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([s for _, s, _ in hits], dtype=np.float32).reshape(-1),
                np.array([i for i, _, _ in hits], dtype=np.int64).reshape(-1))

    def keyword(self, tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._arrays(self._search(self.query_vector(tokens), "sparse", n))

    def nearest(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._arrays(self._search(np.asarray(query, dtype=np.float32).tolist(), "dense", n))

    def candidates(self, tokens: list[str], query: np.ndarray, n: int, extra: np.ndarray,
                   within: Selection | None = None) -> Candidates:
        """Each search brings the other half's vector of its rows (one round trip less than fetching them
        after: Milvus Lite's get costs as much as a search), so every candidate is scored exactly by both."""
        vector = self.query_vector(tokens)
        bm25: dict[int, float] = {}
        cosine: dict[int, float] = {}
        for i, score, dense in self._search(vector, "sparse", n, "dense", within):
            bm25[i], cosine[i] = score, float(np.dot(dense, query))
        for i, score, sparse in self._search(np.asarray(query, dtype=np.float32).tolist(), "dense", n, "sparse", within):
            cosine[i], bm25[i] = score, bm25.get(i) or _dot(sparse, vector)
        if within is not None:
            extra = extra[within.mask[extra]]
        missing = [int(i) for i in extra if int(i) not in cosine]
        if missing:
            with unavailable("cannot read passages"):
                rows = self.client.get(self.names.chunks, ids=[self.chunk_ids[i] for i in missing],
                                       output_fields=["dense", "sparse"])
            for row in rows:  # a row an update removed meanwhile does not come back: left out
                i = self.position[row["id"]]
                bm25[i], cosine[i] = _dot(row["sparse"], vector), float(np.dot(row["dense"], query))
        ids = np.array(sorted(cosine), dtype=np.int64)
        return Candidates(ids, np.array([bm25[i] for i in ids], dtype=np.float32),
                          np.array([cosine[i] for i in ids], dtype=np.float32))


def expression(filters: Filters) -> str:
    """A Milvus filter expression over the chunks' scalar fields that passes what `filters` passes
    (qa.filters.Filters.matches): the same fields, and the same comparison of days without a year."""
    parts = []
    if filters.article is not None:
        parts.append(f"article_id == {_literal(filters.article)}")
    if filters.page is not None:
        parts.append(f"page == {_literal(filters.page)}")
    if filters.reporter is not None:
        parts.append(f"ARRAY_CONTAINS(people, {_literal(filters.reporter)})")
    if filters.date_from is not None or filters.date_to is not None:
        parts.append("month_day > 0")
    for bound, op in ((filters.date_from, ">="), (filters.date_to, "<=")):
        if bound is not None and bound.year:
            parts.append(f"((year > 0 and day_key {op} {bound.year * 10000 + bound.month_day}) or "
                         f"(year == 0 and month_day {op} {bound.month_day}))")
        elif bound is not None:
            parts.append(f"month_day {op} {bound.month_day}")
    return " and ".join(parts)


def _literal(text: str) -> str:
    """A string literal of Milvus's expression language (this Milvus Lite takes no filter templates)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_fields(article: Article) -> dict:
    """A chunk row's copy of its article's filter fields."""
    day = Day.parse(article.day) if article.day else None
    month_day, year = (day.month_day, day.year or 0) if day else (0, 0)
    return {"people": list(dict.fromkeys(people(article)))[:MAX_PEOPLE], "month_day": month_day, "year": year,
            "day_key": year * 10000 + month_day}


def _dot(sparse: dict[int, float], vector: dict[int, float]) -> float:
    return sum(w * sparse.get(t, 0.0) for t, w in vector.items())


class Collections:
    """Writes and reads the layout above: full builds, page updates, and the mirror a server serves from."""

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
        """The mirror of the current generation; None when there are no collections. Read again when an update
        ran meanwhile (its manifest, written last, has another generation)."""
        for _ in range(5):
            manifest = self.manifest()
            if manifest is None:
                if self.exists():
                    raise NotReady(f"{self.where} have no manifest: a build is running or failed; run "
                                   f"`python -m qa build`")
                return None
            check_manifest(manifest, self.config)
            index = self._read(manifest)
            if self.generation() == manifest["generation"]:
                return index
        raise StoreUnavailable(f"{self.where} kept changing while they were read: try again")

    def page_names(self) -> set[str]:
        """The pages the archive holds (unreadable ones included), as of now."""
        with unavailable(f"cannot read {self.where}"):
            self._load(self.names)
            return {row["page"] for row in self._rows(self.names.records, 'kind == "meta"', ["page"])}

    def _read(self, manifest: dict) -> Index:
        with unavailable(f"cannot read {self.where}"):
            records = list(self._rows(self.names.records, 'kind in ["article", "page", "meta"]',
                                      ["kind", "page", "body"]))
            rows = list(self._rows(self.names.chunks, 'id != ""',
                                   ["id", "page", "article_id", "seq", "text", "start", "end", "record"]))
        parts: dict[str, list[tuple[int, str]]] = {}
        articles, meta = [], {}
        for row in records:
            if row["kind"] == "page":
                parts.setdefault(row["page"], []).append((int(row["key"].rpartition("#")[2]), row["body"]))
            elif row["kind"] == "meta":
                meta[row["page"]] = json.loads(row["body"])
            else:
                articles.append(json.loads(row["body"]))
        pages = {name: "".join(text for _, text in sorted(parts[name])) for name in sorted(parts)}
        articles = sorted((_article(fields, pages[fields["page"]]) for fields in articles), key=lambda a: (a.page, a.id))
        rows.sort(key=lambda r: (r["page"], r["seq"]))
        chunks = [Chunk(r["id"], r["article_id"], r["page"], r["text"], r["start"], r["end"],
                        tuple(tuple(s) for s in r["record"]["sentences"])) for r in rows]
        skipped = {name: m["skipped"] for name, m in sorted(meta.items()) if m.get("skipped")}
        corpus = Corpus(pages, {a.id: a for a in articles}, chunks, skipped)
        manifest = manifest | {
            "counts": {"pages": len(pages), "articles": len(articles), "chunks": len(chunks)}, "skipped": skipped,
            "seeds": {name: m["sha256"] for name, m in sorted(meta.items())},
            "page_bytes": {name: m["bytes"] for name, m in sorted(meta.items())}}
        store = MilvusStore(self.client, self.names, [c.id for c in chunks], len(chunks))
        return Index(corpus, store, [r["record"]["types"] for r in rows], manifest)

    def _rows(self, collection: str, filter: str, fields: list[str]) -> Iterator[dict]:
        """Every row matching a filter, in batches (Milvus caps one query's rows), read strongly."""
        iterator = self.client.query_iterator(collection, filter=filter, output_fields=fields, batch_size=BATCH,
                                              consistency_level="Strong")
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    # -- writing ------------------------------------------------------------------------------
    def build(self, corpus: Corpus, meta: dict[str, dict], encoder: Encoder, tokenizer: Tokenizer,
              cache: EmbeddingCache | None, progress: bool) -> Index:
        """Write a corpus into new collections beside the current ones, then put them in their place: a failed
        build leaves the archive as it was, and readers miss it only for the moment of the two renames.
        `meta` is each page's sha256, bytes and (unreadable pages) why it was skipped."""
        started = time.perf_counter()
        tokens, vectors, types = encode_corpus(corpus, encoder, tokenizer, cache, progress)
        previous = self.manifest() if self.exists() else None
        # The generation goes on from the collections replaced (servers that follow them see a new one); with
        # none to go on from, a clock reading cannot be one a server still holds.
        generation = (previous.get("generation") if previous else None) or time.time_ns()
        avgdl = sum(map(len, tokens)) / max(len(tokens), 1)
        manifest = new_manifest(corpus, encoder, MilvusStore.kind) | {
            "milvus_format": MILVUS_FORMAT, "generation": generation + 1, "bm25": {"k1": K1, "b": B, "avgdl": avgdl},
            "settings": settings_of(self.config), "encoded_chunks": cache.last_encoded if cache else None,
            "build_seconds": round(time.perf_counter() - started, 2)}
        for key in ("counts", "skipped"):  # counted when read: the manifest row stays small whatever the archive
            manifest.pop(key)
        building = Collections(self.config, self.client)
        building.names = Names(self.config.milvus_collection, NEXT)
        with unavailable(f"cannot write {self.where}"):
            building._create(encoder.dim, len(corpus.chunks))
            building._insert_pages(corpus, meta, tokens, vectors, types, avgdl)
            df = Counter(t for chunk_tokens in tokens for t in set(chunk_tokens))
            building._insert(building.names.records, [_term(t, n) for t, n in df.items()])
            building._write_manifest(manifest)
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
        with unavailable(f"cannot write {self.where}"):
            for name in changes:
                page = f"page == {json.dumps(name, ensure_ascii=False)}"  # PAGE_NAME allows no quote, no backslash
                for row in self._rows(self.names.chunks, page, ["text", "headline"]):
                    df.subtract(set(tokenizer(Chunk("", "", name, row["text"], 0, 0).indexed_text(row["headline"]))))
                for collection in self.names:
                    self.client.delete(collection, filter=page)
            self._insert_pages(corpus, meta, tokens, vectors, types, manifest["bm25"]["avgdl"])
            self._add_document_frequencies(df)
            manifest |= {"generation": manifest["generation"] + 1, "encoded_chunks": cache.last_encoded if cache else None,
                         "build_seconds": round(time.perf_counter() - started, 2)}
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
        else:  # the graph index FAISS keeps recall with (qa/ann.py); a cluster takes these parameters
            index.add_index("dense", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 64})
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self.client.create_collection(self.names.chunks, schema=chunks, index_params=index)
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
                      avgdl: float) -> None:
        """The rows of some pages: passages, articles (without their body: the page text gives it back), page
        texts in parts, and each page's sha256 and size."""
        seq: Counter = Counter()
        rows = []
        for chunk, chunk_tokens, vector, chunk_types in zip(corpus.chunks, tokens, vectors, types):
            rows.append({"id": chunk.id, "page": chunk.page, "article_id": chunk.article_id, "seq": seq[chunk.page],
                         "headline": corpus.headline(chunk), "text": chunk.text, "start": chunk.start, "end": chunk.end,
                         "record": {"sentences": chunk.sentences, "types": chunk_types},
                         **filter_fields(corpus.articles[chunk.article_id]),
                         "dense": vector.astype(np.float32).tolist(), "sparse": term_weights(chunk_tokens, avgdl)})
            seq[chunk.page] += 1
        self._insert(self.names.chunks, rows)
        records = [_record(f"a:{a.id}", "article", a.page, json.dumps(asdict(a) | {"body": None}, ensure_ascii=False))
                   for a in corpus.articles.values()]
        for name, text in corpus.pages.items():
            records += [_record(f"p:{name}#{i // PAGE_PART:05d}", "page", name, text[i : i + PAGE_PART])
                        for i in range(0, max(len(text), 1), PAGE_PART)]
        records += [_record(f"m:{name}", "meta", name, json.dumps(m)) for name, m in meta.items()]
        self._insert(self.names.records, records)

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

    def _insert(self, collection: str, rows: list[dict]) -> None:
        """Upsert in batches, then flush: Milvus searches unflushed rows far more slowly."""
        for start in range(0, len(rows), BATCH):
            self.client.upsert(collection, rows[start : start + BATCH])
        self.client.flush(collection)


def _article(fields: dict, page: str) -> Article:
    """An article record with its body taken again from the page text (Article's own invariant)."""
    return record_of(Article, fields | {"body": normalise(page[fields["body_start"] : fields["body_end"]])})


class SharedLibrary(Library):
    """The archive in Milvus: pages are added and removed in the collections alone, so every API server sees
    them; the seeds folder is only what the first build loads."""

    def names(self) -> set[str]:
        return Collections(self.config).page_names()  # the newest, whichever process wrote it

    def _write(self, changes: dict[str, bytes | None]) -> dict[str, bytes | None]:
        """No page file is written: Milvus keeps the text."""
        return {}

    def documents(self, index: Index, names: list[str] | None = None) -> list[dict]:
        """The archive's pages (or those named) as the collections hold them."""
        manifest = index.manifest
        articles, chunks = page_counts(index)
        return [{"name": name, "bytes": manifest["page_bytes"][name], "sha256": manifest["seeds"][name],
                 "articles": articles[name], "chunks": chunks[name], "indexed": True,
                 "skipped": manifest["skipped"].get(name)}
                for name in (sorted(manifest["seeds"]) if names is None else names) if name in manifest["seeds"]]


class Follower:
    """Notices the updates other processes make (the manifest's generation changes) and reads them: at most
    one look every REFRESH_SECONDS, by one request thread at a time while the others go on. Collections
    rebuilt with other settings or another model are not followed (logged): the server keeps what it has."""

    def __init__(self, config: Config, client: MilvusClient, fingerprint: str):
        self.collections, self.fingerprint = Collections(config, client), fingerprint
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def newer(self, index: Index) -> Index | None:
        """A mirror of a newer generation than `index`'s, or None."""
        if time.monotonic() - self._checked < REFRESH_SECONDS or not self._lock.acquire(blocking=False):
            return None
        try:
            self._checked = time.monotonic()
            manifest = self.collections.manifest()
            if manifest is None or manifest.get("generation") == index.manifest.get("generation"):
                return None
            try:
                check_compatible(manifest, self.collections.config, self.fingerprint)
            except IndexMismatch as error:
                log.error("not following the Milvus collections: %s", error.message)
                return None
            return self.collections.load()
        finally:
            self._lock.release()


def _record(key: str, kind: str, page: str, body: str) -> dict:
    return {"key": key, "kind": kind, "page": page, "body": body, "unused": [0.0, 0.0]}


def _term(token: str, df: int) -> dict:
    return _record(term_key(token), "term", "", str(df))


def check_manifest(manifest: dict, config: Config) -> None:
    """Refuse collections of another layout: this code would misread them."""
    if manifest.get("format_version") != FORMAT_VERSION or manifest.get("milvus_format") != MILVUS_FORMAT:
        raise IndexMismatch(f"the Milvus collections {config.milvus_collection}_* at {shown(config.milvus_uri)} "
                            f"have another format (format {manifest.get('format_version')}, Milvus layout "
                            f"{manifest.get('milvus_format')}; this code reads {FORMAT_VERSION}, {MILVUS_FORMAT}): "
                            f"build a new archive under another QA_MILVUS_COLLECTION")


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


def load_or_build(config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
    """The mirror of the collections; built from the seeds when there are none at all. Collections built with
    other settings or another model are refused (other servers may be serving them), and changed seed files
    do not rebuild them: the collections, not this machine's folder, hold the archive."""
    collections = Collections(config)
    index = collections.load()
    if index is None:
        return build(config, encoder, tokenizer, progress, collections)
    check_compatible(index.manifest, config, encoder.fingerprint)
    return index


def build(config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True,
          collections: Collections | None = None) -> Index:
    """A full build (`qa build`): the pages the collections hold, weighed again with their new average length
    (and the settings and model of this process); with no collections yet, the seeds folder's pages."""
    collections = collections or Collections(config)
    try:
        current = collections.load()
    except NotReady:  # collections without a manifest (damaged by hand or by a crash): the seeds are all there is
        log.warning("%s have no manifest: building them from %s", collections.where, config.seeds_dir)
        current = None
    if current is not None:
        corpus = Corpus.from_pages(current.corpus.pages, config, current.corpus.skipped)
        meta = {name: {"sha256": sha, "bytes": current.manifest["page_bytes"][name]}
                | ({"skipped": current.corpus.skipped[name]} if name in current.corpus.skipped else {})
                for name, sha in current.manifest["seeds"].items()}
    else:
        checksums = seed_checksums(config.seeds_dir)  # before reading: a page changed meanwhile makes it stale
        pages, skipped = read_seeds(config.seeds_dir)
        corpus = Corpus.from_pages(pages, config, skipped)
        meta = {name: {"sha256": sha, "bytes": (config.seeds_dir / name).stat().st_size}
                | ({"skipped": skipped[name]} if name in skipped else {})
                for name, sha in checksums.items() if sha is not None}
    if not corpus.chunks:
        raise NotReady(f"no page with text to index in {config.seeds_dir}: set QA_SEEDS_DIR to the seeds folder")
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint)
    return collections.build(corpus, meta, encoder, tokenizer, cache, progress)


def update(config: Config, encoder: Encoder, tokenizer: Tokenizer, changes: dict[str, bytes | None]) -> Index:
    """Apply page changes to the collections (Library's build step with QA_STORE=milvus)."""
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint)
    return Collections(config).update(changes, encoder, tokenizer, cache)
