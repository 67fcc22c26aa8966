"""The searchable half of an index: an abstract store, and the embedded one (bm25s + FAISS files in index/)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qa.ann import ANN, for_size
from qa.filters import Selection
from qa.fusion import top_k
from qa.sparse import BM25Index


class Candidates(NamedTuple):
    """Fusion's input: chunk positions (ascending) with the exact BM25 and cosine score of each."""

    ids: np.ndarray
    bm25: np.ndarray
    cosine: np.ndarray


class Store(ABC):
    """Keyword (BM25) and vector search over an index's chunks, which it names by their position in the
    index's chunk list."""

    kind = "abstract"

    @abstractmethod
    def keyword(self, tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        """(BM25 scores, positions) of the n best chunks for these query tokens, best first."""

    @abstractmethod
    def nearest(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosine scores, positions) of the n chunks nearest a normalised query vector, best first."""

    @abstractmethod
    def candidates(self, tokens: list[str], query: np.ndarray, n: int, extra: np.ndarray,
                   within: Selection | None = None) -> Candidates:
        """The union of the keyword top n, the vector top n and the `extra` positions, each scored exactly by
        both halves (a chunk found by one half gets its true score from the other, not a zero). With `within`,
        both searches run over the chunks it selects only: the top n are the best n that pass its filters."""

    @abstractmethod
    def idf(self, tokens: list[str]) -> list[float]:
        """Lucene IDF of each token; one the corpus never saw gets the highest possible IDF."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of chunks searched."""


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
