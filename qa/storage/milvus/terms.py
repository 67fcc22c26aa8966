"""BM25 as sparse vectors: a token's dimension (a stable 32-bit hash), its document-frequency record key, and a
passage's term-frequency weights (the query brings the IDF)."""

from __future__ import annotations

import hashlib
from collections import Counter

from qa.storage.sparse import K1, B

# Milvus refuses an empty sparse vector: a passage without a word (all stopwords) gets this dimension, which
# no token hashes to and so no query holds.
NO_WORDS = 2**32 - 2


def token_id(token: str) -> int:
    """A token's dimension in the sparse vectors: a stable 32-bit hash, so writers share no vocabulary
    (Milvus takes dimensions below 2**32 - 1)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little") % NO_WORDS


def term_key(token: str) -> str:
    """The record key of a token's document frequency (a hash for a token too long for a key)."""
    key = f"t:{token}"
    return key if len(key.encode()) <= 500 else f"t#{hashlib.sha256(token.encode()).hexdigest()}"


def term_weights(tokens: list[str], avgdl: float) -> dict[int, float]:
    """A chunk's sparse vector: BM25's term-frequency part of each token (IDF comes with the query)."""
    norm = K1 * (1 - B + B * len(tokens) / max(avgdl, 1e-9))
    weights: dict[int, float] = {}
    for token, tf in Counter(tokens).items():
        tid = token_id(token)
        weights[tid] = weights.get(tid, 0.0) + tf / (tf + norm)
    return weights or {NO_WORDS: 1.0}
