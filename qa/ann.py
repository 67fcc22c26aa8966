"""Approximate-nearest-neighbour backends over normalised vectors: an abstract base and FAISS."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path

import faiss
import numpy as np

from qa.errors import IndexMismatch

FORMAT = 1


class ANN(ABC):
    """Inner-product search over L2-normalised vectors (= cosine). Saves into its own folder."""

    kind = "abstract"

    @abstractmethod
    def build(self, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) arrays of shape (len(queries), k); missing neighbours have id -1."""

    @abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids, for exact re-scoring of fused candidates."""

    @property
    @abstractmethod
    def size(self) -> int: ...

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._save(folder)
        (folder / "ann.json").write_text(json.dumps({"format": FORMAT, "kind": self.kind, "size": self.size}))

    @staticmethod
    def load(folder: Path) -> "ANN":
        params = json.loads((folder / "ann.json").read_text())
        if params.get("format") != FORMAT or params.get("kind") not in BACKENDS:
            raise IndexMismatch(f"vector index in {folder} is {params}, this code reads format {FORMAT}")
        return BACKENDS[params["kind"]]._load(folder)

    @abstractmethod
    def _save(self, folder: Path) -> None: ...

    @classmethod
    @abstractmethod
    def _load(cls, folder: Path) -> "ANN": ...


class FaissFlat(ANN):
    """Exact search with faiss.IndexFlatIP."""

    kind = "faiss-flat"

    def __init__(self, index: faiss.Index | None = None):
        self.index = index

    def build(self, vectors: np.ndarray) -> None:
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, self.size))

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    @property
    def size(self) -> int:
        return 0 if self.index is None else self.index.ntotal

    def _save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / "vectors.faiss"))

    @classmethod
    def _load(cls, folder: Path) -> "FaissFlat":
        return cls(faiss.read_index(str(folder / "vectors.faiss")))


BACKENDS: dict[str, type[ANN]] = {FaissFlat.kind: FaissFlat}
