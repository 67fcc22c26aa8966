"""BM25 over jieba tokens (bm25s), saved as numpy arrays and JSON: no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np

from qa.errors import EmptyPage, IndexMismatch

FORMAT = 1
K1, B = 1.2, 0.75  # bm25s's defaults; the Milvus store weighs its sparse vectors with the same


def lucene_idf(df: int, documents: int) -> float:
    """Lucene IDF (bm25s's): a token no document holds gets the highest possible IDF."""
    return float(np.log(1 + (documents - df + 0.5) / (df + 0.5)))


class BM25Index:
    """Sparse scoring of chunks. Saves itself into its own sub-folder of the index."""

    def __init__(self, k1: float = K1, b: float = B):
        self.k1, self.b = k1, b
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self.size = 0

    def build(self, token_lists: list[list[str]]) -> None:
        if not any(token_lists):  # bm25s fails on an empty vocabulary with a bare ValueError
            raise EmptyPage("the pages hold no words to index (only punctuation, numbers or stopwords)")
        self._bm25.index(token_lists, show_progress=False)
        self.size = len(token_lists)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every chunk for these query tokens (unknown tokens ignored)."""
        known = [t for t in tokens if t in self._bm25.vocab_dict]
        if not known or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return self._bm25.get_scores(known)

    def idf(self, token: str) -> float:
        """Lucene IDF of a token; a token the corpus never saw gets the highest possible IDF."""
        return lucene_idf(self._document_frequency(token), self.size)

    def _document_frequency(self, token: str) -> int:
        index = self._bm25.vocab_dict.get(token)
        if index is None:
            return 0
        indptr = self._bm25.scores["indptr"]
        return int(indptr[index + 1] - indptr[index])

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(folder), show_progress=False)
        params = {"format": FORMAT, "k1": self.k1, "b": self.b, "size": self.size}
        (folder / "bm25.json").write_text(json.dumps(params))

    @classmethod
    def load(cls, folder: Path) -> "BM25Index":
        params = json.loads((folder / "bm25.json").read_text())
        if params.get("format") != FORMAT:
            raise IndexMismatch(f"BM25 index in {folder} has format {params.get('format')}, this code reads {FORMAT}")
        index = cls(params["k1"], params["b"])
        # Memory-mapped: the postings are clean file pages, shared by server processes and dropped under pressure,
        # not a heap copy; a question touches its own tokens' postings (and the kernel maps the pages around them).
        index._bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        index.size = params["size"]
        return index
