"""The Milvus store: chunks, vectors, BM25 weights and records in Milvus collections that every API server shares. By
job: `client` (connecting, errors), `terms` (BM25 as sparse vectors), `search` (the store), `records` (what a
request reads besides its searches), `collections` (the layout below: builds, updates, the index of a generation)
and `backend` (the store's operations, the library and the follower).

Layout (MILVUS_FORMAT; collection names start with QA_MILVUS_COLLECTION, `qa` by default):

- `<prefix>_chunks`, a row per chunk: `id` (primary key: the chunk id), `page`, `article_id`, `seq` (the chunk's
  place in its page), `headline`, `text`, `start`/`end` (raw offsets in the page file), `record` (JSON: sentence
  offsets, answer types, `raw` (the chunk's raw text in the page file) and `article` (its article's record without
  the body)), the article's filter fields (`people`: everyone its bylines name; `month_day` (MMDD), `year` and
  `day_key` (year × 10000 + MMDD), 0 without a printed date or year), `dense` (the passage vector; IP of
  normalised vectors = cosine) and `sparse` (per token, keyed by a 32-bit hash of it, the BM25 term-frequency part
  tf / (tf + k1 (1 - b + b dl / avgdl))). A query's sparse vector holds each token's IDF (times its count): their
  inner product is bm25s's score.
- `<prefix>_articles`, a row per article: `article_id` (primary key), `page`, `seq` (its place in its page),
  `record` (JSON: the article without its body), `title` and `plain` (qa.storage.records.matchable: the texts a
  list question's topic is matched against, with LIKE), `names` (JSON: the names a chat's rewriter knows) and the
  same filter fields as the chunks.
- `<prefix>_records`, small records by `key`: the manifest (`manifest`: format, model, settings, avgdl,
  generation, counts, skipped pages), each page's sha256, size and counts of articles and chunks (`m:<name>`),
  page texts in parts (`p:<name>#<part>`, for citations and article bodies), and each token's document frequency
  (`t:<token>`, for IDF).

The weights are computed here, not by Milvus's BM25 function: the tokens are the embedded store's own (jieba
search mode after NFKC, simplified Chinese and stopwords), IDF stays exact after incremental updates (only the
average length is kept from the last full build), and the question analysis needs the IDF too (BENCHMARKS.md,
Milvus, has both measured).

API servers hold no copy of the archive: a server reads the manifest of the current generation (again when an
update anywhere bumps it), searches Milvus (each search brings the other half's vectors of its rows, so every
candidate is scored exactly by both), then reads the records of the passages it re-ranks by primary key in one
query, keeping the QA_RECORDS_CACHE most recent in an LRU; article and citation lookups read Milvus too. BM25's
statistics are the `t:` records (each token's IDF read when a question first holds it, then kept) and the
manifest's average length and chunk count.
"""

from qa.storage.milvus.backend import BACKEND

__all__ = ["BACKEND"]
