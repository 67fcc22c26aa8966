"""The parsed corpus: the seed pages read, parsed into articles and chunked into passages."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.config import Config
from qa.errors import NotReady, UnreadablePage
from qa.ingest.chunk import chunk_article
from qa.ingest.documents import Article, Chunk
from qa.ingest.pages import read_page
from qa.ingest.parse import parse_page

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
