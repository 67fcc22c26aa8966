"""The searchable half of an index: the interface every store implements (embedded.py, milvus/search.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np

from qa.storage.filters import Selection


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class Candidates(NamedTuple):
    """Fusion's input: passage keys (ascending) with the exact BM25 and cosine score of each."""

    ids: np.ndarray
    bm25: np.ndarray
    cosine: np.ndarray


class Store(ABC):
    """Keyword (BM25) and vector search over an index's chunks, which it names by keys that the index's records
    read (qa.storage.records: positions in this process's chunk list, or chunk ids in a shared store)."""

    kind = "abstract"

    @abstractmethod
    def keyword(self, tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        """(BM25 scores, keys) of the n best chunks for these query tokens, best first."""

    @abstractmethod
    def nearest(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosine scores, keys) of the n chunks nearest a normalised query vector, best first."""

    @abstractmethod
    def candidates(self, tokens: list[str], query: np.ndarray, n: int, extra: np.ndarray,
                   within: Selection | None = None) -> Candidates:
        """The union of the keyword top n, the vector top n and the `extra` keys, each scored exactly by
        both halves (a chunk found by one half gets its true score from the other, not a zero). With `within`,
        both searches run over the chunks it selects only: the top n are the best n that pass its filters."""

    @abstractmethod
    def idf(self, tokens: list[str]) -> list[float]:
        """Lucene IDF of each token; one the corpus never saw gets the highest possible IDF."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of chunks searched."""
