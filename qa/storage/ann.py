"""Nearest-neighbour search over normalised vectors: an abstract base, FAISS backends, the choice by size."""

from __future__ import annotations

import json
import os
import weakref
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from qa.errors import IndexMismatch

FORMAT = 1
EXACT_WITHIN = 10_000  # a filtered search over at most this many vectors scores them all (about 2 ms)
SAVE_ROWS = 65_536  # rows written per block when vectors are saved (96 MB of 384-dim float32)


class ANN(ABC):
    """Inner-product search over L2-normalised vectors (= cosine). Saves into its own folder."""

    kind = "abstract"

    @abstractmethod
    def build(self, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) arrays of shape (len(queries), k); missing neighbours have id -1. With `allowed` (ids,
        ascending), only those are searched: a filter restricts the search itself, not what it returns."""

    @abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids, for exact re-scoring of fused candidates."""

    @property
    @abstractmethod
    def size(self) -> int: ...

    def params(self) -> dict:
        """The backend's own parameters, written into ann.json (for the record and for loading)."""
        return {}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._save(folder)
        (folder / "ann.json").write_text(json.dumps({"format": FORMAT, "kind": self.kind, "size": self.size,
                                                     "params": self.params()}))

    @staticmethod
    def load(folder: Path) -> "ANN":
        params = json.loads((folder / "ann.json").read_text())
        if params.get("format") != FORMAT or params.get("kind") not in BACKENDS:
            raise IndexMismatch(f"vector index in {folder} is {params}, this code reads format {FORMAT} of "
                                f"{sorted(BACKENDS)}: rebuild it with `python -m qa build`")
        return BACKENDS[params["kind"]]._load(folder)

    @abstractmethod
    def _save(self, folder: Path) -> None: ...

    @classmethod
    @abstractmethod
    def _load(cls, folder: Path) -> "ANN": ...


class FaissANN(ANN):
    """A FAISS index, saved as vectors.faiss; `vectors` gives the exact float32 vectors (Flat and HNSW hold them
    in the index, IVF beside its 8-bit codes)."""

    def __init__(self, index: faiss.Index | None = None):
        self.index = index

    @abstractmethod
    def _make(self, vectors: np.ndarray) -> faiss.Index:
        """A new, empty (trained where needed) index for these vectors."""

    def build(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index = self._make(vectors)
        self.index.add(vectors)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if allowed is not None and len(allowed) <= EXACT_WITHIN:
            return self._exact(queries, k, allowed)
        params = None if allowed is None else self._params(faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        with _one_thread_for(len(queries) == 1):
            return self.index.search(queries, min(k, self.size), params=params)

    def _exact(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every allowed vector scored: an approximate index given a small subset misses some (its graph or its
        probed cells mostly hold other vectors), and scoring a few thousand vectors takes a millisecond."""
        scores = queries @ self.vectors(allowed).T if len(allowed) else np.zeros((len(queries), 0), np.float32)
        k = min(k, self.size)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        found = np.take_along_axis(scores, top, axis=1)
        ids = np.asarray(allowed, dtype=np.int64)[top]
        pad = k - top.shape[1]  # fewer allowed than k: padded as FAISS pads, with id -1
        return (np.pad(found, ((0, 0), (0, pad)), constant_values=-np.inf).astype(np.float32),
                np.pad(ids, ((0, 0), (0, pad)), constant_values=-1))

    def _params(self, selector: faiss.IDSelector) -> faiss.SearchParameters:
        """Search parameters restricting a search to the selected ids (each backend keeps its own breadth)."""
        return faiss.SearchParameters(sel=selector)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    @property
    def size(self) -> int:
        return 0 if self.index is None else self.index.ntotal

    def _save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / "vectors.faiss"))

    @classmethod
    def _load(cls, folder: Path) -> "FaissANN":
        return cls(faiss.read_index(str(folder / "vectors.faiss")))  # search parameters are saved in the file


class FaissFlat(FaissANN):
    """Exact search (faiss.IndexFlatIP): every query scans every vector."""

    kind = "faiss-flat"

    def _make(self, vectors: np.ndarray) -> faiss.Index:
        return faiss.IndexFlatIP(vectors.shape[1])


class FaissHNSW(FaissANN):
    """A graph index (faiss.IndexHNSWFlat): about log(n) work per query, slow to build."""

    kind = "faiss-hnsw"
    # M 16 loses recall on clustered vectors (0.60 at 100k, efSearch 128); M 32 holds it to 100k (0.975).
    M, EF_CONSTRUCTION, EF_SEARCH = 32, 64, 128  # chosen by benchmarks/scaling.py (BENCHMARKS.md)

    def _make(self, vectors: np.ndarray) -> faiss.Index:
        index = faiss.IndexHNSWFlat(vectors.shape[1], self.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction, index.hnsw.efSearch = self.EF_CONSTRUCTION, self.EF_SEARCH
        return index

    def params(self) -> dict:
        return {"M": self.M, "efConstruction": self.EF_CONSTRUCTION, "efSearch": self.EF_SEARCH}

    def _params(self, selector: faiss.IDSelector) -> faiss.SearchParameters:
        return faiss.SearchParametersHNSW(sel=selector, efSearch=self.index.hnsw.efSearch)


class FaissIVF(FaissANN):
    """Inverted lists over k-means cells of 8-bit codes (faiss.IndexIVFScalarQuantizer): a query scans the `nprobe`
    nearest cells. The codes take a quarter of float32 vectors' memory (39 MB instead of 146 at 100k passages);
    the float32 vectors stay beside them in `vectors.npy`, read row by row (Rows) for the exact scores: the fused
    candidates', the codes' nearest (re-ranked) and a filter's small subsets."""

    kind = "faiss-ivf-sq8"
    # 4 sqrt(n) cells, the nearest 3 % (at least 16) scanned: recall@10 0.99 at 100k, 1.0 at 1M (scaling.py).
    CELLS_PER_SQRT, NPROBE_SHARE, MIN_NPROBE, TRAIN_PER_CELL = 4, 0.03, 16, 50
    REFINE = 2  # candidates from the codes per neighbour asked, re-scored exactly

    def __init__(self, index: faiss.Index | None = None, exact: "np.ndarray | Rows | None" = None):
        super().__init__(index)
        self.exact = exact  # the float32 vectors: an array after a build, the file's Rows once loaded

    def build(self, vectors: np.ndarray) -> None:
        super().build(vectors)
        self.exact = np.ascontiguousarray(vectors, dtype=np.float32)

    def _make(self, vectors: np.ndarray) -> faiss.Index:
        cells = max(1, min(len(vectors) // self.TRAIN_PER_CELL, int(self.CELLS_PER_SQRT * np.sqrt(len(vectors)))))
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], cells,
                                              faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        # k-means (and the codes' ranges) on a fixed-seed sample: enough points per cell, far fewer than a million.
        sample = np.random.default_rng(0).permutation(len(vectors))[: cells * self.TRAIN_PER_CELL]
        index.train(vectors[np.sort(sample)])
        index.nprobe = min(cells, max(self.MIN_NPROBE, int(np.ceil(self.NPROBE_SHARE * cells))))
        return index

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The codes' REFINE * k nearest, re-scored with the float32 vectors: the 8-bit scores alone reorder near
        ties (recall@10 0.978 instead of 0.99 at 100k passages)."""
        if allowed is not None and len(allowed) <= EXACT_WITHIN:
            return self._exact(queries, k, allowed)
        _, found = super().search(queries, self.REFINE * k, allowed)
        k = min(k, self.size)
        scores, ids = np.full((len(found), k), -np.inf, dtype=np.float32), np.full((len(found), k), -1, dtype=np.int64)
        for row, (query, candidates) in enumerate(zip(np.asarray(queries, dtype=np.float32), found)):
            candidates = candidates[candidates >= 0]
            exact = self.vectors(candidates) @ query
            best = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(best)], ids[row, : len(best)] = exact[best], candidates[best]
        return scores, ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.exact[np.asarray(ids, dtype=np.int64)]

    def params(self) -> dict:
        ivf = faiss.extract_index_ivf(self.index) if self.index is not None else None
        return {"nlist": ivf.nlist, "nprobe": ivf.nprobe, "codes": "8-bit", "refine": self.REFINE} if ivf else {}

    def _params(self, selector: faiss.IDSelector) -> faiss.SearchParameters:
        return faiss.SearchParametersIVF(sel=selector, nprobe=faiss.extract_index_ivf(self.index).nprobe)

    def _save(self, folder: Path) -> None:
        super()._save(folder)
        # Row blocks into a file mapped for writing: a loaded index's Rows are never read whole into memory.
        out = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32,
                                        shape=(len(self.exact), self.index.d))
        for start in range(0, len(out), SAVE_ROWS):
            out[start : start + SAVE_ROWS] = self.exact[np.arange(start, min(start + SAVE_ROWS, len(out)))]
        out.flush()
        del out

    @classmethod
    def _load(cls, folder: Path) -> "FaissIVF":
        return cls(faiss.read_index(str(folder / "vectors.faiss")), Rows(folder / "vectors.npy"))


class Rows:
    """The rows of a 2-D float32 `.npy` file, read with pread when asked for (`rows[ids]`), never held.

    Not a memory map: the kernel maps the cached pages around each one read (64 KB for a 1.5 KB row), and a few
    hundred questions made the whole 146 MB file part of the process (measured at 100k passages). Read calls
    leave it in the page cache only. The file stays open: a later update may remove its folder meanwhile.
    """

    def __init__(self, path: Path):
        with Path(path).open("rb") as f:
            fmt = np.lib.format
            header = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = header(f)
            offset = f.tell()
        if len(shape) != 2 or fortran or dtype != np.float32:
            raise ValueError(f"{path} holds {dtype} {shape}, not rows of float32")
        self.shape, self.offset, self.row_bytes = shape, offset, shape[1] * 4
        self.fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.fd)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        """The rows of `ids` (any order, repeats allowed); one read per run of consecutive ids."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"row ids outside 0..{len(self) - 1}")
        out = np.empty((len(ids), self.shape[1]), dtype=np.float32)
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        for run in np.split(np.arange(len(ids)), breaks) if len(ids) else ():
            first, count = int(ordered[run[0]]), len(run)
            data = os.pread(self.fd, count * self.row_bytes, self.offset + first * self.row_bytes)
            if len(data) != count * self.row_bytes:  # a file cut short (or a run past what one read returns)
                raise OSError(f"read {len(data)} bytes of rows {first}..{first + count - 1}, "
                              f"expected {count * self.row_bytes}")
            out[order[run]] = np.frombuffer(data, dtype=np.float32).reshape(count, self.shape[1])
        return out


@contextmanager
def _one_thread_for(single: bool):
    """One OpenMP thread for a single query: FAISS splits even one query's scan over its threads, and the
    hand-off costs more than it saves while the server's other requests keep the cores busy (exact search of
    10k vectors on a busy 2-core machine: 0.9 ms on one thread, 20 ms on two). OpenMP keeps the setting per
    calling thread; it is put back afterwards, so builds and batch searches keep every thread."""
    before = faiss.omp_get_max_threads()
    if single:
        faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


BACKENDS: dict[str, type[FaissANN]] = {b.kind: b for b in (FaissFlat, FaissHNSW, FaissIVF)}
# The backend above the exact threshold: on the benchmark's vectors IVF keeps recall@10 at 0.99-1.0 from 100k
# to 1M passages where HNSW falls to 0.59 at 1M, and builds 2-4 times faster (BENCHMARKS.md, Scale).
APPROXIMATE = FaissIVF


def for_size(size: int, exact_below: int) -> FaissANN:
    """Exact search for a corpus below `exact_below` vectors, the approximate backend from there on."""
    return FaissFlat() if size < exact_below else APPROXIMATE()
