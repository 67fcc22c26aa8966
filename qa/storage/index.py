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

import numpy as np
from tqdm import tqdm

from qa.analysis import sentence_types
from qa.chunk import chunk_article
from qa.config import Config
from qa.dense import EmbeddingCache, Encoder
from qa.documents import Article, Chunk
from qa.errors import IndexMismatch, NotReady, UnreadablePage
from qa.parse import parse_page, read_page
from qa.store import EmbeddedStore, Store
from qa.tokenize import Tokenizer

FORMAT_VERSION = 2  # 2: article records carry their day, photographers and the raw spans of headline, date, bylines
DAMAGED = "index_damaged"  # error code of an index folder that cannot be read
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
    }


def encode_corpus(corpus: Corpus, encoder: Encoder, tokenizer: Tokenizer, cache: EmbeddingCache | None = None,
                  progress: bool = True) -> tuple[list[list[str]], np.ndarray, list[list[list[str]]]]:
    """What every store indexes of a corpus: per chunk its BM25 tokens, its vector and its sentences' answer types."""
    texts = [c.indexed_text(corpus.headline(c)) for c in corpus.chunks]
    tokens = [tokenizer(t) for t in tqdm(texts, desc="tokenising", disable=not progress, unit="chunk")]
    vectors = encoder.encode_passages(texts, progress=progress, cache=cache)
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
    """Everything a query needs: the corpus and its answer types in memory, and a store that searches it."""

    corpus: Corpus
    store: Store
    types: list[list[list[str]]]  # per chunk, per sentence: answer types present
    manifest: dict

    @classmethod
    def build(cls, corpus: Corpus, encoder: Encoder, tokenizer: Tokenizer, cache: EmbeddingCache | None = None,
              progress: bool = True, ann_exact_below: int = Config.ann_exact_below) -> "Index":
        """An embedded index (bm25s + FAISS in this process) of a corpus."""
        tokens, vectors, types = encode_corpus(corpus, encoder, tokenizer, cache, progress)
        store = EmbeddedStore.build(tokens, vectors, ann_exact_below)
        return cls(corpus, store, types, new_manifest(corpus, encoder, EmbeddedStore.kind))

    def save(self, folder: Path) -> None:
        """Write into a temporary sibling folder, then rename into place: never a half index.

        A failed write removes its temporary folder and leaves the previous index as it was.
        """
        folder = Path(folder)
        _check_replaceable(folder)
        _remove_leftovers(folder)
        tmp = _fresh_sibling(folder, "tmp")
        tmp.mkdir(parents=True)
        try:
            self._write(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _swap_into_place(tmp, folder)

    def _write(self, folder: Path) -> None:
        _write_jsonl(folder / "pages.jsonl", ({"name": n, "text": t} for n, t in self.corpus.pages.items()))
        _write_jsonl(folder / "articles.jsonl", (dataclasses.asdict(a) for a in self.corpus.articles.values()))
        _write_jsonl(folder / "chunks.jsonl", (dataclasses.asdict(c) | {"types": t}
                                               for c, t in zip(self.corpus.chunks, self.types)))
        self.store.save(folder)
        # The manifest last: a folder without one is never taken for an index.
        (folder / "manifest.json").write_text(json.dumps(self.manifest, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "Index":
        """Read an index folder; another format version or a damaged folder is refused with a clear message."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        if manifest is None:
            raise NotReady(f"no index at {folder}: run `python -m qa build`")
        check_format(manifest, folder)
        try:
            return cls._read(folder, manifest)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, EOFError) as error:
            raise IndexMismatch(f"the index at {folder} is damaged ({type(error).__name__}: {error}): "
                                f"rebuild it with `python -m qa build`", code=DAMAGED) from error

    @classmethod
    def _read(cls, folder: Path, manifest: dict) -> "Index":
        pages = {r["name"]: r["text"] for r in _read_jsonl(folder / "pages.jsonl")}
        articles = {r["id"]: record_of(Article, r) for r in _read_jsonl(folder / "articles.jsonl")}
        rows = list(_read_jsonl(folder / "chunks.jsonl"))
        chunks = [record_of(Chunk, r) for r in rows]
        corpus = Corpus(pages, articles, chunks, manifest.get("skipped", {}))
        store = EmbeddedStore.load(folder)
        index = cls(corpus, store, [r["types"] for r in rows], manifest)
        sizes = {"chunks": len(chunks), "bm25": store.bm25.size, "vectors": store.ann.size,
                 "manifest": manifest.get("counts", {}).get("chunks")}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"its parts disagree on the number of chunks: {sizes}")
        return index


def build_index(config: Config, encoder: Encoder, tokenizer: Tokenizer, changes: dict[str, bytes | None] | None = None,
                progress: bool = True) -> Index:
    """Parse the seed pages, build every component and write the index folder. `changes` are the pages an
    update just wrote (bytes) or removed (None): the Milvus store applies only those; the embedded one
    rebuilds from the folder (its embedding cache encodes only new passages)."""
    if config.store == "milvus":
        from qa import milvus  # imported only for this store: embedded serving never loads pymilvus

        return milvus.update(config, encoder, tokenizer, changes) if changes else milvus.build(config, encoder, tokenizer,
                                                                                             progress)
    started = time.perf_counter()
    checksums = seed_checksums(config.seeds_dir)  # before reading: a page changed meanwhile makes it stale
    pages, skipped = read_seeds(config.seeds_dir)
    if not pages:
        raise NotReady(f"no readable page files (*.txt) in {config.seeds_dir}: set QA_SEEDS_DIR to the seeds folder")
    corpus = Corpus.from_pages(pages, config, skipped)
    if not corpus.chunks:
        raise NotReady(f"the pages in {config.seeds_dir} hold no text to index")
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint)
    index = Index.build(corpus, encoder, tokenizer, cache=cache, progress=progress,
                        ann_exact_below=config.ann_exact_below)
    index.manifest |= {
        "settings": settings_of(config),
        "seeds": checksums,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 2),
        "encoded_chunks": cache.last_encoded,
    }
    index.save(config.index_dir)
    return index


def read_manifest(folder: Path) -> dict | None:
    """The manifest of an index folder, None if there is none; an unreadable one is reported as damaged."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexMismatch(f"the index manifest {path} is unreadable ({error}): rebuild it with `python -m qa build`",
                            code=DAMAGED) from error
    if not isinstance(manifest, dict):
        raise IndexMismatch(f"the index manifest {path} is not a JSON object: rebuild it with `python -m qa build`",
                            code=DAMAGED)
    return manifest


def check_format(manifest: dict, folder: Path) -> None:
    """Refuse an index written by another format version: this code would misread it."""
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatch(
            f"the index at {folder} has another format (format version {version}; this code reads version "
            f"{FORMAT_VERSION}): delete it or rebuild it with `python -m qa build`"
        )


def refuse_other_format(folder: Path) -> None:
    """Raise IndexMismatch for an index of another format version; a missing or damaged one is let
    through (it is built or rebuilt). Cheap: reads only the manifest."""
    try:
        manifest = read_manifest(folder)
    except IndexMismatch:
        return
    if manifest is not None:
        check_format(manifest, folder)


def stale_reason(config: Config) -> str | None:
    """Why the index on disk must be rebuilt for this config and these seeds, or None if it is current.

    Raises IndexMismatch for an index of another format version (that is refused, not rebuilt).
    """
    try:
        manifest = read_manifest(config.index_dir)
    except IndexMismatch as error:
        return error.message  # damaged: rebuilt
    if manifest is None:
        return "no index yet"
    check_format(manifest, config.index_dir)
    if manifest.get("settings") != settings_of(config):
        return "settings changed"
    if manifest.get("seeds") != seed_checksums(config.seeds_dir):
        return "seed pages changed"
    return None


def _fresh_sibling(folder: Path, kind: str) -> Path:
    """A hidden sibling of the index folder for this process (same file system: renames are atomic)."""
    path = folder.with_name(f".{folder.name}.{kind}-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    return path


def _swap_into_place(new: Path, folder: Path) -> None:
    old = _fresh_sibling(folder, "old")
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _check_replaceable(folder: Path) -> None:
    """Only an index (a folder with a manifest) or an empty folder is ever replaced: never other files."""
    if not folder.exists() or folder.is_dir() and ((folder / "manifest.json").exists() or not any(folder.iterdir())):
        return
    raise NotReady(f"{folder} is not an index folder (it holds files but no manifest): refusing to replace it; "
                   f"point QA_INDEX_DIR at an index folder, an empty one or a new path")


def recover_interrupted_swap(folder: Path) -> None:
    """A build killed between the two renames of its swap left no index but the previous one as
    `.<name>.old-<pid>`: put that back."""
    if folder.exists():
        return
    for path in sorted(folder.parent.glob(f".{folder.name}.old-*")):
        pid = path.name.rpartition("-")[2]
        if pid.isdigit() and not _alive(int(pid)) and (path / "manifest.json").exists():
            path.rename(folder)
            log.warning("restored the index %s from an interrupted swap", folder)
            return


def _remove_leftovers(folder: Path) -> None:
    """Temporary folders of builds whose process is gone (killed mid-build); a running build's stay."""
    recover_interrupted_swap(folder)
    for path in folder.parent.glob(f".{folder.name}.*-*"):
        kind, _, pid = path.name.rpartition("-")
        if kind in (f".{folder.name}.tmp", f".{folder.name}.old") and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def record_of(cls, row: dict):
    """A dataclass record from its JSON row (lists back to tuples, other keys left out)."""
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


def load_or_build(config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
    """Load the index; build it when missing, stale or damaged; refuse one of another format version."""
    if config.store == "milvus":
        from qa import milvus

        return milvus.load_or_build(config, encoder, tokenizer, progress)
    recover_interrupted_swap(config.index_dir)
    reason = stale_reason(config)  # raises IndexMismatch for another format version
    if reason is None:
        try:
            index = Index.load(config.index_dir)
        except IndexMismatch as error:
            if error.code != DAMAGED:
                raise
            reason = error.message
        else:
            model = index.manifest.get("model", {})
            if model.get("fingerprint") == encoder.fingerprint and model.get("dimension") == encoder.dim:
                return index
            reason = f"built with model {model.get('fingerprint')}, serving {encoder.fingerprint}"
    log.info("building the index at %s (%s)", config.index_dir, reason)
    return build_index(config, encoder, tokenizer, progress=progress)
