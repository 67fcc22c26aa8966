"""The embedded store: bm25s and FAISS in this process, the index kept as files in QA_INDEX_DIR (README, "The
index on disk": `manifest.json`, `pages.jsonl`, `articles.jsonl`, `chunks.jsonl`, `bm25/`, `ann/`), written
atomically and refused when of another format."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qa.config import Config
from qa.errors import IndexMismatch, NotReady
from qa.indexing.corpus import Corpus, corpus_of_seeds, seed_checksums
from qa.indexing.encode import encode_corpus
from qa.indexing.manifest import new_manifest, settings_of
from qa.ingest.documents import Article, Chunk
from qa.language.tokenize import Tokenizer
from qa.models.dense import EmbeddingCache, Encoder
from qa.storage.ann import ANN, for_size
from qa.storage.backend import Backend
from qa.storage.columns import ChunkColumns, TypeColumns
from qa.storage.index import DAMAGED, Index, check_format, record_of
from qa.storage.library import Library
from qa.storage.records import CorpusRecords
from qa.storage.sparse import BM25Index
from qa.storage.store import Candidates, Selection, Store, top_k

log = logging.getLogger(__name__)


class EmbeddedStore(Store):
    """bm25s and FAISS in this process, saved as files: `bm25/` and `ann/` sub-folders of the index folder."""

    kind = "embedded"

    def __init__(self, bm25: BM25Index, ann: ANN):
        self.bm25, self.ann = bm25, ann

    @classmethod
    def build(cls, token_lists: list[list[str]], vectors: np.ndarray, exact_below: int) -> "EmbeddedStore":
        bm25 = BM25Index()
        bm25.build(token_lists)
        ann = for_size(len(vectors), exact_below)  # exact search while it is fast enough
        ann.build(vectors)
        return cls(bm25, ann)

    def keyword(self, tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.bm25.scores(tokens)
        ids = top_k(scores, n)
        return scores[ids], ids

    def nearest(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.ann.search(query[None, :], n)
        found = ids[0] >= 0
        return scores[0][found], ids[0][found]

    def candidates(self, tokens: list[str], query: np.ndarray, n: int, extra: np.ndarray,
                   within: Selection | None = None) -> Candidates:
        bm25 = self.bm25.scores(tokens)  # every chunk's score at once: the top n and the candidates' from one pass
        if within is None:
            _, nearest = self.nearest(query, n)
            ids = np.unique(np.concatenate([top_k(bm25, n), nearest, extra]))
        else:  # masks: BM25 ranks the allowed chunks' scores, FAISS searches the allowed vectors only
            allowed = within.positions
            _, nearest = self.ann.search(query[None, :], n, allowed)
            nearest = nearest[0][nearest[0] >= 0]
            ids = np.unique(np.concatenate([allowed[top_k(bm25[allowed], n)], nearest, extra[within.mask[extra]]]))
        return Candidates(ids, bm25[ids], self.ann.vectors(ids) @ query)

    def idf(self, tokens: list[str]) -> list[float]:
        return [self.bm25.idf(t) for t in tokens]

    @property
    def size(self) -> int:
        return self.bm25.size

    def save(self, folder: Path) -> None:
        self.bm25.save(folder / "bm25")
        self.ann.save(folder / "ann")

    @classmethod
    def load(cls, folder: Path) -> "EmbeddedStore":
        return cls(BM25Index.load(folder / "bm25"), ANN.load(folder / "ann"))


def index_corpus(corpus: Corpus, encoder: Encoder, tokenizer: Tokenizer, cache: EmbeddingCache | None = None,
                 progress: bool = True, ann_exact_below: int = Config.ann_exact_below) -> Index:
    """An embedded index (bm25s + FAISS in this process) of a corpus."""
    tokens, vectors, types = encode_corpus(corpus, encoder, tokenizer, cache, progress)
    store = EmbeddedStore.build(tokens, vectors, ann_exact_below)
    return Index.of(corpus, store, types, new_manifest(corpus, encoder, EmbeddedStore.kind))


def save_index(index: Index, folder: Path) -> None:
    """Write into a temporary sibling folder, then rename into place: never a half index.

    A failed write removes its temporary folder and leaves the previous index as it was.
    """
    folder = Path(folder)
    _check_replaceable(folder)
    _remove_leftovers(folder)
    tmp = _fresh_sibling(folder, "tmp")
    tmp.mkdir(parents=True)
    try:
        _write(index, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_into_place(tmp, folder)


def _write(index: Index, folder: Path) -> None:
    records = index.records
    if not isinstance(records, CorpusRecords):  # what Index.of makes: the records an embedded build holds
        raise TypeError(f"an embedded index keeps its records in this process, not in {type(records).__name__}")
    corpus = records.corpus
    _write_jsonl(folder / "pages.jsonl", ({"name": n, "text": t} for n, t in corpus.pages.items()))
    _write_jsonl(folder / "articles.jsonl", (dataclasses.asdict(records.article(key)) for key in corpus.articles))
    _write_jsonl(folder / "chunks.jsonl", (dataclasses.asdict(c) | {"types": t}
                                           for c, t in zip(corpus.chunks, records.types)))
    index.store.save(folder)
    # The manifest last: a folder without one is never taken for an index.
    (folder / "manifest.json").write_text(json.dumps(index.manifest, ensure_ascii=False, indent=2), encoding="utf-8")

def load_index(folder: Path) -> Index:
    """Read an index folder; another format version or a damaged folder is refused with a clear message."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise NotReady(f"no index at {folder}: run `python -m qa build`")
    check_format(manifest, f"the index at {folder}", "delete it or rebuild it with `python -m qa build`")
    try:
        return _read(folder, manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, EOFError) as error:
        raise IndexMismatch(f"the index at {folder} is damaged ({type(error).__name__}: {error}): "
                            f"rebuild it with `python -m qa build`", code=DAMAGED) from error


def _read(folder: Path, manifest: dict) -> Index:
    pages = {r["name"]: r["text"] for r in _read_jsonl(folder / "pages.jsonl")}
    # Without their bodies and texts: the records make them from the pages when read (CorpusRecords).
    articles = {r["id"]: record_of(Article, r | {"body": ""}) for r in _read_jsonl(folder / "articles.jsonl")}
    chunks, types = ChunkColumns(pages), TypeColumns()
    for row in _read_jsonl(folder / "chunks.jsonl"):  # into columns row by row: no object per passage is kept
        chunks.append(record_of(Chunk, row))
        types.append(row["types"])
    corpus = Corpus(pages, articles, chunks, manifest.get("skipped", {}))
    store = EmbeddedStore.load(folder)
    index = Index.of(corpus, store, types, manifest)
    sizes = {"chunks": len(chunks), "bm25": store.bm25.size, "vectors": store.ann.size,
             "manifest": manifest.get("counts", {}).get("chunks")}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"its parts disagree on the number of chunks: {sizes}")
    return index


def build_index(config: Config, encoder: Encoder, tokenizer: Tokenizer, changes: dict[str, bytes | None] | None = None,
                progress: bool = True) -> Index:
    """Parse the seed pages, build every component and write the index folder. `changes` (the pages an update
    just wrote or removed) are already in the seeds folder: the build reads it whole (the embedding cache
    encodes only new passages)."""
    started = time.perf_counter()
    corpus, checksums = corpus_of_seeds(config)
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint)
    index = index_corpus(corpus, encoder, tokenizer, cache=cache, progress=progress,
                         ann_exact_below=config.ann_exact_below)
    index.manifest |= {
        "settings": settings_of(config),
        "seeds": checksums,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 2),
        "encoded_chunks": cache.last_encoded,
    }
    save_index(index, config.index_dir)
    # Served as it is read from disk, as after a restart: the vectors and BM25 arrays read from their files, not the
    # build's copies in memory (at 100k passages the float32 vectors alone are 146 MB).
    return load_index(config.index_dir)


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


def refuse_other_format(folder: Path) -> None:
    """Raise IndexMismatch for an index of another format version; a missing or damaged one is let
    through (it is built or rebuilt). Cheap: reads only the manifest."""
    try:
        manifest = read_manifest(folder)
    except IndexMismatch:
        return
    if manifest is not None:
        check_format(manifest, f"the index at {folder}", "delete it or rebuild it with `python -m qa build`")


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
    check_format(manifest, f"the index at {config.index_dir}", "delete it or rebuild it with `python -m qa build`")
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
    recover_interrupted_swap(config.index_dir)
    reason = stale_reason(config)  # raises IndexMismatch for another format version
    if reason is None:
        try:
            index = load_index(config.index_dir)
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


class EmbeddedBackend(Backend):
    """QA_STORE=embedded: the index folder, rebuilt when stale, one server per folder."""

    name = EmbeddedStore.kind

    def check_early(self, config: Config) -> None:
        refuse_other_format(config.index_dir)

    def build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer,
              changes: dict[str, bytes | None] | None = None, progress: bool = True) -> Index:
        return build_index(config, encoder, tokenizer, changes, progress)

    def load_or_build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
        return load_or_build(config, encoder, tokenizer, progress)

    def library(self, config: Config, build: Callable[..., Index],
                publish: Callable[[Index], None]) -> Library:
        return Library(config, build, publish)


BACKEND = EmbeddedBackend()
