"""The persisted, versioned index: pages, articles, chunks, BM25 and vectors under one manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from qa.analysis import sentence_types
from qa.ann import ANN, FaissFlat
from qa.chunk import chunk_article
from qa.config import Config
from qa.dense import EmbeddingCache, Encoder
from qa.documents import Article, Chunk
from qa.errors import IndexMismatch, NotReady, UnreadablePage
from qa.parse import parse_page, read_page
from qa.sparse import BM25Index
from qa.tokenize import Tokenizer

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


@dataclass
class Corpus:
    """Parsed pages: the raw texts, their articles and chunks."""

    pages: dict[str, str]
    articles: dict[str, Article]
    chunks: list[Chunk]
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
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.txt"))}


def settings_of(config: Config) -> dict:
    """The settings an index depends on: a change of any of them means a rebuild."""
    return {
        "chunk_min_chars": config.chunk_min_chars,
        "chunk_max_chars": config.chunk_max_chars,
        "chunk_overlap_sentences": config.chunk_overlap_sentences,
        "query_prefix": config.query_prefix,
        "passage_prefix": config.passage_prefix,
        "model": str(config.resolved_model_path),
    }


@dataclass
class Index:
    """Everything a query needs, loaded in memory."""

    corpus: Corpus
    bm25: BM25Index
    ann: ANN
    types: list[list[list[str]]]  # per chunk, per sentence: answer types present
    manifest: dict

    @classmethod
    def build(cls, corpus: Corpus, encoder: Encoder, tokenizer: Tokenizer, cache: EmbeddingCache | None = None,
              progress: bool = True) -> "Index":
        texts = [c.indexed_text(corpus.headline(c)) for c in corpus.chunks]
        bm25 = BM25Index()
        bm25.build([tokenizer(t) for t in tqdm(texts, desc="tokenising", disable=not progress, unit="chunk")])
        ann = FaissFlat()
        ann.build(encoder.encode_passages(texts, progress=progress, cache=cache))
        types = [
            [sentence_types(c.text[a:b], tokenizer) for a, b in c.sentences]
            for c in tqdm(corpus.chunks, desc="analysing", disable=not progress, unit="chunk")
        ]
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": {"name": encoder.name, "dimension": encoder.dim},
            "counts": {"pages": len(corpus.pages), "articles": len(corpus.articles), "chunks": len(corpus.chunks)},
            "skipped": corpus.skipped,
        }
        return cls(corpus, bm25, ann, types, manifest)

    def save(self, folder: Path) -> None:
        """Write into a temporary sibling folder, then rename into place: never a half index."""
        folder = Path(folder)
        tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _write_jsonl(tmp / "pages.jsonl", ({"name": n, "text": t} for n, t in self.corpus.pages.items()))
        _write_jsonl(tmp / "articles.jsonl", (dataclasses.asdict(a) for a in self.corpus.articles.values()))
        _write_jsonl(tmp / "chunks.jsonl", (dataclasses.asdict(c) | {"types": t}
                                            for c, t in zip(self.corpus.chunks, self.types)))
        self.bm25.save(tmp / "bm25")
        self.ann.save(tmp / "ann")
        (tmp / "manifest.json").write_text(json.dumps(self.manifest, ensure_ascii=False, indent=2))
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> "Index":
        manifest_path = Path(folder) / "manifest.json"
        if not manifest_path.exists():
            raise NotReady(f"no index at {folder}: run `python -m qa build`")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"index at {folder} has format version {manifest.get('format_version')}, this code reads "
                f"version {FORMAT_VERSION}: rebuild it with `python -m qa build`"
            )
        pages = {r["name"]: r["text"] for r in _read_jsonl(folder / "pages.jsonl")}
        articles = {r["id"]: _record(Article, r) for r in _read_jsonl(folder / "articles.jsonl")}
        rows = list(_read_jsonl(folder / "chunks.jsonl"))
        chunks = [_record(Chunk, r) for r in rows]
        corpus = Corpus(pages, articles, chunks, manifest.get("skipped", {}))
        return cls(corpus, BM25Index.load(folder / "bm25"), ANN.load(folder / "ann"), [r["types"] for r in rows], manifest)


def build_index(config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
    """Parse the seed pages, build every component and write the index folder."""
    started = time.perf_counter()
    pages, skipped = read_seeds(config.seeds_dir)
    corpus = Corpus.from_pages(pages, config, skipped)
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.name)
    index = Index.build(corpus, encoder, tokenizer, cache=cache, progress=progress)
    index.manifest |= {
        "settings": settings_of(config),
        "seeds": {n: s for n, s in seed_checksums(config.seeds_dir).items()},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 2),
        "encoded_chunks": cache.last_encoded,
    }
    index.save(config.index_dir)
    return index


def stale_reason(config: Config) -> str | None:
    """Why the index on disk must be rebuilt for this config and these seeds, or None if it is current."""
    path = config.index_dir / "manifest.json"
    if not path.exists():
        return "no index yet"
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"format version {manifest.get('format_version')} != {FORMAT_VERSION}"
    if manifest.get("settings") != settings_of(config):
        return "settings changed"
    if manifest.get("seeds") != seed_checksums(config.seeds_dir):
        return "seed pages changed"
    return None


def _record(cls, row: dict):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _tuples(v) for k, v in row.items() if k in names})


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path):
    with path.open(encoding="utf-8") as rows:
        for line in rows:
            yield json.loads(line)
