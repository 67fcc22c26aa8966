"""The fields every build writes into an index's manifest: the format version, the settings it depends on,
the model, counts and skipped pages (README, "The index on disk")."""

from __future__ import annotations

from qa.config import Config
from qa.indexing.corpus import Corpus
from qa.models.dense import Encoder

FORMAT_VERSION = 2  # 2: article records carry their day, photographers and the raw spans of headline, date, bylines


def settings_of(config: Config) -> dict:
    """The settings an index depends on: a change of any of them means a rebuild."""
    return {
        "chunk_min_chars": config.chunk_min_chars,
        "chunk_max_chars": config.chunk_max_chars,
        "chunk_overlap_sentences": config.chunk_overlap_sentences,
        "query_prefix": config.query_prefix,
        "passage_prefix": config.passage_prefix,
        "model": str(config.resolved_model_path),
        "embedded_script": "simplified",  # passages are embedded after opencc t2s (Tokenizer.simplified)
    }


def new_manifest(corpus: Corpus, encoder: Encoder, store: str) -> dict:
    """The manifest fields every store's build writes: format, store, model, counts, skipped pages."""
    return {
        "format_version": FORMAT_VERSION,
        "store": store,
        "model": {"name": encoder.name, "dimension": encoder.dim, "fingerprint": encoder.fingerprint},
        "counts": {"pages": len(corpus.pages), "articles": len(corpus.articles), "chunks": len(corpus.chunks)},
        "skipped": corpus.skipped,
    }
