"""What every store indexes of a corpus: per passage its BM25 tokens, its vector and its sentences' answer types."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from qa.indexing.corpus import Corpus
from qa.language.analysis import sentence_types
from qa.language.tokenize import Tokenizer
from qa.models.dense import EmbeddingCache, Encoder


def encode_corpus(corpus: Corpus, encoder: Encoder, tokenizer: Tokenizer, cache: EmbeddingCache | None = None,
                  progress: bool = True) -> tuple[list[list[str]], np.ndarray, list[list[list[str]]]]:
    """What every store indexes of a corpus: per chunk its BM25 tokens, its vector and its sentences' answer types."""
    texts = [c.indexed_text(corpus.headline(c)) for c in corpus.chunks]
    tokens = [tokenizer(t) for t in tqdm(texts, desc="tokenising", disable=not progress, unit="chunk")]
    vectors = encoder.encode_passages([tokenizer.simplified(t) for t in texts], progress=progress, cache=cache)
    types = [
        [sentence_types(c.text[a:b], tokenizer) for a, b in c.sentences]
        for c in tqdm(corpus.chunks, desc="analysing", disable=not progress, unit="chunk")
    ]
    return tokens, vectors, types
