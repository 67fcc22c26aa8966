"""The index every store serves: the records answers are read from (records.py), its manifest (format, model,
settings, counts) and a store that searches it; the parsed corpus and the build helpers every store shares. How
an index is kept is the store's (embedded.py: files; milvus/: collections)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.config import Config
from qa.errors import IndexMismatch, NotReady, UnreadablePage
from qa.ingest.chunk import chunk_article
from qa.ingest.documents import Article, Chunk
from qa.ingest.pages import read_page
from qa.ingest.parse import parse_page
from qa.language.analysis import sentence_types
from qa.language.tokenize import Tokenizer
from qa.models.dense import EmbeddingCache, Encoder
from qa.storage.records import CorpusRecords, Records
from qa.storage.store import Store

FORMAT_VERSION = 2  # 2: article records carry their day, photographers and the raw spans of headline, date, bylines
DAMAGED = "index_damaged"  # error code of an index folder that cannot be read
log = logging.getLogger(__name__)


@dataclass
class Corpus:
    """Parsed pages: the raw texts, their articles and chunks."""

    pages: dict[str, str]
    articles: dict[str, Article]
    chunks: Sequence[Chunk]  # a list while parsing; qa.storage.columns.ChunkColumns once an index holds it
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # page -> reason

    @classmethod
    def from_pages(cls, pages: dict[str, str], config: Config, skipped: dict[str, str] | None = None) -> "Corpus":
        articles: dict[str, Article] = {}
        chunks: list[Chunk] = []
        for name, raw in pages.items():
            for article in parse_page(name, raw):
                for warning in article.warnings:
                    log.info("%s: %s", article.id, warning)
                articles[article.id] = article
                chunks.extend(chunk_article(article, raw, config.chunk_min_chars, config.chunk_max_chars,
                                            config.chunk_overlap_sentences))
        return cls(pages, articles, chunks, skipped or {})

    def headline(self, chunk: Chunk) -> str:
        return self.articles[chunk.article_id].headline


def read_seeds(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """All *.txt pages of a folder, sorted by name; unreadable ones are reported, not indexed."""
    pages, skipped = {}, {}
    for path in sorted(folder.glob("*.txt")):
        try:
            pages[path.name] = read_page(path)
        except UnreadablePage as error:
            log.warning("skipping %s: %s", path.name, error.message)
            skipped[path.name] = error.message
    return pages, skipped


def seed_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every page file; an unreadable one is listed as such (read_seeds reports why)."""
    return {p.name: _sha256_or_none(p) for p in sorted(folder.glob("*.txt"))}


def _sha256_or_none(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


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


def encode_corpus(corpus: Corpus, encoder: Encoder, tokenizer: Tokenizer, cache: EmbeddingCache | None = None,
                  progress: bool = True) -> tuple[list[list[str]], np.ndarray, list[list[list[str]]]]:
    """What every store indexes of a corpus: per chunk its BM25 tokens, its vector and its sentences' answer types."""
    texts = [c.indexed_text(corpus.headline(c)) for c in corpus.chunks]
    tokens = [tokenizer(t) for t in tqdm(texts, desc="tokenising", disable=not progress, unit="chunk")]
    vectors = encoder.encode_passages([tokenizer.simplified(t) for t in texts], progress=progress, cache=cache)
    types = [
        [sentence_types(c.text[a:b], tokenizer) for a, b in c.sentences]
        for c in tqdm(corpus.chunks, desc="analysing", disable=not progress, unit="chunk")
    ]
    return tokens, vectors, types


def new_manifest(corpus: Corpus, encoder: Encoder, store: str) -> dict:
    """The manifest fields every store's build writes: format, store, model, counts, skipped pages."""
    return {
        "format_version": FORMAT_VERSION,
        "store": store,
        "model": {"name": encoder.name, "dimension": encoder.dim, "fingerprint": encoder.fingerprint},
        "counts": {"pages": len(corpus.pages), "articles": len(corpus.articles), "chunks": len(corpus.chunks)},
        "skipped": corpus.skipped,
    }


@dataclass
class Index:
    """Everything a query needs: the records answers are read from, and a store that searches them."""

    records: Records
    store: Store
    manifest: dict

    @classmethod
    def of(cls, corpus: Corpus, store: Store, types: list[list[list[str]]], manifest: dict) -> "Index":
        """An index whose corpus this process holds (`types`: per chunk, per sentence, the answer types present)."""
        return cls(CorpusRecords(corpus, types), store, manifest)


def record_of(cls, row: dict):
    """A dataclass record from its JSON row (lists back to tuples, other keys left out)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _tuples(v) for k, v in row.items() if k in names})


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def corpus_of_seeds(config: Config) -> tuple[Corpus, dict[str, str | None]]:
    """The seeds folder parsed, and the checksums of its page files taken before reading (a page changed
    meanwhile leaves the index stale, not silently wrong). Refused when no page holds text to index."""
    checksums = seed_checksums(config.seeds_dir)
    pages, skipped = read_seeds(config.seeds_dir)
    if not pages:
        raise NotReady(f"no readable page files (*.txt) in {config.seeds_dir}: set QA_SEEDS_DIR to the seeds folder")
    corpus = Corpus.from_pages(pages, config, skipped)
    if not corpus.chunks:
        raise NotReady(f"the pages in {config.seeds_dir} hold no text to index")
    return corpus, checksums


def check_format(manifest: dict, where: str, advice: str, layout: dict[str, int] | None = None) -> None:
    """Refuse an index of another format (the records', and a store's own `layout` versions): this code would
    misread it."""
    wanted = {"format_version": FORMAT_VERSION} | (layout or {})
    found = {name: manifest.get(name) for name in wanted}
    if found != wanted:
        def versions(values: dict) -> str:
            return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in values.items())
        raise IndexMismatch(f"{where} has another format ({versions(found)}; this code reads {versions(wanted)}): "
                            f"{advice}")
