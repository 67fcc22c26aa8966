"""Score fusion of BM25 and dense results over the union of both candidate lists."""

from __future__ import annotations

import numpy as np


def normalise_scores(scores: np.ndarray) -> np.ndarray:
    """Min-max to 0..1 over the candidates; all-equal scores become 0."""
    low, high = float(scores.min(initial=0.0)), float(scores.max(initial=0.0))
    if high - low < 1e-9:
        return np.zeros_like(scores, dtype=np.float32)
    return ((scores - low) / (high - low)).astype(np.float32)


def fuse(bm25: np.ndarray, cosine: np.ndarray, dense_weight: float) -> np.ndarray:
    """Normalised BM25 + dense_weight x normalised cosine, for aligned candidate arrays.

    Reciprocal-rank fusion measured worse on both benchmark sets (BENCHMARKS.md): the score
    margins carry information that ranks throw away.
    """
    return normalise_scores(bm25) + dense_weight * normalise_scores(cosine)
