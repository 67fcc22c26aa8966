"""Indexing: from page files to what a store keeps. Between the models and storage.

In: page files (qa.ingest parses and chunks them) and the models (qa.models embeds). Out: a `Corpus` (the pages,
their articles and passages), what every store indexes of it (`encode_corpus`: BM25 tokens, vectors, answer
types) and the manifest fields every build writes. `corpus.py` reads and parses the seeds, `encode.py` encodes,
`manifest.py` holds the format version and the settings an index depends on, `pages.py` checks a page an
update brings. How a generation is written is the store's (qa.storage).
"""
