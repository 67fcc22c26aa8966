"""Ranking at question time: the hybrid search over a store (retrieve), score fusion (fusion) and the fitted
re-ranker (rerank).

In: a question, an `Index` (qa.storage), optional filters. Out: re-ranked `Hit`s with their feature scores.
"""
