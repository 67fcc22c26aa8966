"""Live updates: page files added, replaced and removed in the seeds folder, then one rebuild and one swap."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from qa.config import Config
from qa.errors import Conflict, NotFound, quoted
from qa.indexing.pages import check_name, check_page, refused
from qa.storage.index import Index

PARTIAL = ".part"  # suffix of a page being written (never matches *.txt)
log = logging.getLogger(__name__)


class Library:
    """The seed pages as a collection that changes while the index serves.

    Each change writes its page files durably, rebuilds the index once (`build`: the embedding cache encodes
    only new passages) and hands the new index to `publish` (the server's swap), all under one lock:
    concurrent updates queue, in this process and across processes (`qa add` beside a running server).
    A build that fails puts the page files back as they were, so folder and index agree again.
    """

    def __init__(self, config: Config, build: Callable[..., Index], publish: Callable[[Index], None] = lambda _: None):
        """`build(changes, **reused)`: the backend's build of these changes; `reused` is what a library hands on to
        it (a shared store's open collections)."""
        self.config, self.folder, self.build, self.publish = config, config.seeds_dir, build, publish
        self._lock = threading.Lock()  # this process's updates, in turn
        self._file_lock = FileLock(config.index_dir.with_name(f".{config.index_dir.name}.lock"))  # other processes'

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock, self._file_lock:
            for partial in self.folder.glob(f".*{PARTIAL}"):  # an update killed mid-write; none runs now
                partial.unlink(missing_ok=True)
            yield

    def put(self, pages: dict[str, bytes], replace: bool = True) -> tuple[Index, set[str]]:
        """Add or replace pages; the index after the swap, and the names that are new."""
        for name, data in pages.items():
            check_page(name, data, self.config)
        with self._exclusive():
            existing = set(pages) & self.names()
            if existing and not replace:
                names = ", ".join(sorted(existing))
                raise refused(names, Conflict(f"{names}: already in the archive (replace with --replace)",
                                               code="page_exists"))
            index = self._apply(dict(pages))
        log.info("pages written: %s", _listing(pages))
        return index, set(pages) - existing

    def remove(self, names: list[str]) -> Index:
        """Remove pages by file name; the index after the swap."""
        for name in names:
            check_name(name)
        with self._exclusive():
            current = self.names()
            missing = [name for name in names if name not in current]
            if missing:
                raise refused(missing[0], NotFound(f"no page named {quoted(missing[0])}"))
            if not current - set(names):
                raise refused(names[0], Conflict("that would leave the archive without pages", code="last_page"))
            index = self._apply(dict.fromkeys(names))
        log.info("pages removed: %s", ", ".join(names))
        return index

    def rebuild(self) -> Index:
        """Rebuild from the folder as it is (`qa build`), in turn with any update."""
        with self._exclusive():
            return self._apply({})

    def names(self) -> set[str]:
        """The pages of the archive: here the page files of the folder."""
        return {p.name for p in self.folder.glob("*.txt") if p.is_file()}

    def _apply(self, changes: dict[str, bytes | None]) -> Index:
        """Write (bytes) or remove (None) pages, rebuild, publish; a failure puts the pages back as they were."""
        previous = self._write(changes)
        try:
            index = self._build(changes)
            self.publish(index)
        except BaseException:
            log.error("the update of %s failed: the pages are put back as they were", sorted(changes) or "nothing")
            self._write(previous)
            raise
        return index

    def _build(self, changes: dict[str, bytes | None]) -> Index:
        """The index after the changes (a shared store's library passes its own connection along)."""
        return self.build(changes)

    def _write(self, changes: dict[str, bytes | None]) -> dict[str, bytes | None]:
        """Write or remove page files; what they were before."""
        previous = {name: _read_or_none(self.folder / name) for name in changes}
        for name, data in changes.items():
            _set(self.folder / name, data)
        return previous

    def documents(self, index: Index, names: list[str] | None = None) -> list[dict]:
        """The page files of the folder (or those named): size, sha256, and what `index` holds of each."""
        counts = index.records.page_counts()
        rows = []
        for path in sorted(self.folder.glob("*.txt")) if names is None else [self.folder / n for n in names]:
            try:
                data = path.read_bytes()
            except OSError:  # a folder named *.txt, or a page removed meanwhile
                continue
            rows.append(describe(index, path.name, data, counts))
        return rows

    def describe(self, index: Index, name: str, data: bytes) -> dict:
        """A page just written: its size and sha256 from the bytes given (no read of the folder: another update
        may remove the page right after), and what `index` holds of it."""
        return describe(index, name, data)


def describe(index: Index, name: str, data: bytes, counts: tuple[Counter, Counter] | None = None) -> dict:
    """A page's size, sha256, and what `index` holds of it (from the bytes given: no read of the folder)."""
    articles, chunks = counts or index.records.page_counts()
    sha256 = hashlib.sha256(data).hexdigest()
    return {"name": name, "bytes": len(data), "sha256": sha256, "articles": articles[name], "chunks": chunks[name],
            "indexed": index.manifest.get("seeds", {}).get(name) == sha256,
            "skipped": index.manifest.get("skipped", {}).get(name)}


def summary(index: Index) -> dict:
    """What a build did, as the CLI and the admin API report it."""
    return {k: index.manifest.get(k) for k in ("counts", "skipped", "built_at", "build_seconds", "encoded_chunks")}


def write_durably(path: Path, data: bytes) -> None:
    """Write a file so that after a crash it is the old one or the new one, whole, and the new one once this returns.

    Hand-written: a temporary file, fsync, rename over the target, fsync of the folder (the rename itself);
    the standard library has no such call and the `atomicwrites` package is archived.
    """
    tmp = path.with_name(f".{path.name}{PARTIAL}")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_folder(path.parent)


def _set(path: Path, data: bytes | None) -> None:
    if data is None:
        remove_durably(path)
    else:
        write_durably(path, data)


def remove_durably(path: Path) -> None:
    path.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _listing(pages: dict[str, bytes]) -> str:
    return ", ".join(f"{name} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]})"
                     for name, data in pages.items())
