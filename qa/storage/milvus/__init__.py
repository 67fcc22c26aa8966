"""The Milvus store: chunks, vectors and BM25 weights in Milvus collections that every API server shares. By job:
`client` (connecting, errors), `terms` (BM25 as sparse vectors), `search` (the store), `collections` (the layout
below: builds, updates, the mirror) and `backend` (the store's operations, the library and the follower).

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

from qa.storage.milvus.backend import BACKEND

__all__ = ["BACKEND"]
