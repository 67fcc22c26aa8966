"""QA_STORE=milvus: builds and updates through the collections, the archive's pages kept in them (no page file
written), and the follower that keeps every API server on the newest generation."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Callable

from pymilvus import MilvusClient

from qa.config import Config
from qa.errors import IndexMismatch, NotReady
from qa.indexing.corpus import Corpus, corpus_of_seeds
from qa.language.tokenize import Tokenizer
from qa.models.dense import EmbeddingCache, Encoder
from qa.storage.backend import Backend
from qa.storage.index import Index
from qa.storage.library import Library
from qa.storage.milvus.collections import MILVUS_FORMAT, Collections, check_compatible
from qa.storage.milvus.search import MilvusStore

# The formats whose page texts and page records (`p:`, `m:`) a full build reads: from these it rebuilds an
# archive into the current format without losing the pages that updates added.
FORMATS_REBUILT_FROM = (2, MILVUS_FORMAT)
REFRESH_SECONDS = 1.0  # how often a server asks whether another process changed the collections
log = logging.getLogger(__name__)


class SharedLibrary(Library):
    """The archive in Milvus: pages are added and removed in the collections alone, so every API server sees
    them; the seeds folder is only what the first build loads."""

    @functools.cached_property
    def collections(self) -> Collections:
        """One client for the library's life, its updates included (a client per call opened a connection per
        update)."""
        return Collections(self.config)

    def _build(self, changes: dict[str, bytes | None]) -> Index:
        return self.build(changes, collections=self.collections)

    def names(self) -> set[str]:
        return self.collections.page_names()  # the newest, whichever process wrote it

    def _write(self, changes: dict[str, bytes | None]) -> dict[str, bytes | None]:
        """No page file is written: Milvus keeps the text."""
        return {}

    def documents(self, index: Index, names: list[str] | None = None) -> list[dict]:
        """The archive's pages (or those named) as the collections hold them now."""
        meta = self.collections.meta(names)
        return [_described(name, meta[name], meta[name]["sha256"], meta[name]["bytes"])
                for name in (sorted(meta) if names is None else names) if name in meta]

    def describe(self, index: Index, name: str, data: bytes) -> dict:
        return _described(name, self.collections.meta([name]).get(name, {}), hashlib.sha256(data).hexdigest(), len(data))


def _described(name: str, meta: dict, sha256: str, size: int) -> dict:
    """A page as the admin API shows it: `meta` is what the collections hold of it (none: not there)."""
    return {"name": name, "bytes": size, "sha256": sha256, "articles": meta.get("articles", 0),
            "chunks": meta.get("chunks", 0), "indexed": meta.get("sha256") == sha256, "skipped": meta.get("skipped")}


class MilvusFollower:
    """Keeps a server on the newest generation: a thread of its own looks at the manifest every REFRESH_SECONDS
    and, when another process wrote a newer generation, loads it and hands it to the server's swap, so that no
    request waits for a load (requests under way finish on the index they started with). Collections rebuilt
    with other settings or another model are not followed (logged): the server keeps what it has."""

    def __init__(self, config: Config, client: MilvusClient, fingerprint: str):
        self.collections, self.fingerprint = Collections(config, client), fingerprint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def newer(self, index: Index) -> Index | None:
        """The index of a newer generation than `index`'s, or None (an older one, which a swap would ignore, is not
        even loaded)."""
        manifest = self.collections.manifest()
        if manifest is None or manifest.get("generation", 0) <= index.manifest.get("generation", 0):
            return None
        try:
            check_compatible(manifest, self.collections.config, self.fingerprint)
        except IndexMismatch as error:
            log.error("not following the Milvus collections: %s", error.message)
            return None
        return self.collections.load()

    def start(self, served: Callable[[], Index], swap: Callable[[Index], None]) -> None:
        """Follow from now on: `served()` is the index served, `swap` serves another."""
        def follow() -> None:
            while not self._stop.wait(REFRESH_SECONDS):
                try:
                    newer = self.newer(served())
                    if newer is not None:
                        swap(newer)
                except Exception as error:  # Milvus away for a moment: the server keeps what it has, and looks again
                    log.warning("could not follow the Milvus collections: %s", error)

        self._thread = threading.Thread(target=follow, name="qa-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10 * REFRESH_SECONDS)


def load_or_build(config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
    """The index of the collections; built from the seeds when there are none at all. Collections built with
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
    manifest = collections.manifest()
    if manifest is None and collections.exists():  # damaged by hand or by a crash: the seeds are all there is
        log.warning("%s have no manifest: building them from %s", collections.where, config.seeds_dir)
    if manifest is not None and manifest.get("milvus_format") in FORMATS_REBUILT_FROM:
        # The pages the collections hold, also those of the format before this one: a new format is a rebuild.
        held = collections.meta()
        skipped = {name: m["skipped"] for name, m in held.items() if m.get("skipped")}
        corpus = Corpus.from_pages(collections.pages(), config, skipped)
        meta = {name: {"sha256": m["sha256"], "bytes": m["bytes"]} | ({"skipped": skipped[name]} if name in skipped else {})
                for name, m in held.items()}
    else:
        corpus, checksums = corpus_of_seeds(config)
        meta = {name: {"sha256": sha, "bytes": (config.seeds_dir / name).stat().st_size}
                | ({"skipped": corpus.skipped[name]} if name in corpus.skipped else {})
                for name, sha in checksums.items() if sha is not None}
    if not corpus.chunks:  # collections whose pages hold no text
        raise NotReady(f"no page with text to index in {collections.where}")
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint)
    return collections.build(corpus, meta, encoder, tokenizer, cache, progress)


def update(config: Config, encoder: Encoder, tokenizer: Tokenizer, changes: dict[str, bytes | None],
           collections: Collections | None = None) -> Index:
    """Apply page changes to the collections (Library's build step with QA_STORE=milvus), through the library's
    client when it gives its collections; a client opened here is closed here."""
    cache = EmbeddingCache(config.cache_dir / "embeddings", encoder.fingerprint)
    if collections is not None:
        return collections.update(changes, encoder, tokenizer, cache)
    opened = Collections(config)
    try:
        return opened.update(changes, encoder, tokenizer, cache)
    finally:
        opened.client.close()


class MilvusBackend(Backend):
    """QA_STORE=milvus: collections every API server shares; updates apply only their pages, servers follow."""

    name = MilvusStore.kind

    def build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer,
              changes: dict[str, bytes | None] | None = None, progress: bool = True,
              collections: Collections | None = None) -> Index:
        """`collections`: the library's (SharedLibrary._build), whose client the update or build uses."""
        if changes:
            return update(config, encoder, tokenizer, changes, collections)
        return build(config, encoder, tokenizer, progress, collections)

    def load_or_build(self, config: Config, encoder: Encoder, tokenizer: Tokenizer, progress: bool = True) -> Index:
        return load_or_build(config, encoder, tokenizer, progress)

    def library(self, config: Config, build: Callable[..., Index],
                publish: Callable[[Index], None]) -> Library:
        return SharedLibrary(config, build, publish)

    def follower(self, config: Config, index: Index, fingerprint: str) -> MilvusFollower:
        """Over the served index's own connection (an index this backend loaded: its store is a MilvusStore)."""
        if not isinstance(index.store, MilvusStore):
            raise TypeError(f"a Milvus follower follows a Milvus index, not a {type(index.store).__name__} one")
        return MilvusFollower(config, index.store.client, fingerprint)


BACKEND = MilvusBackend()
