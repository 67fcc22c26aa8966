"""Storage: the index (the records answers are read from, its manifest) and the stores that keep and search it.

In: a parsed corpus and what is indexed of it (qa.indexing). Out: an `Index` whose `store` answers keyword and
vector searches and whose `records` give the passages, articles and pages found (by key, per request), and the
configured store's operations to build, update, load and follow it: `open(config)`.
`index.py` is the index and its format check, `store.py` the search interface, `records.py` the records' (a corpus
held in this process, or a shared store's read per request), `backend.py` the operations;
`embedded.py` (bm25s and FAISS files) and `milvus/` (Milvus collections) implement both; `sparse.py` and
`ann.py` are the embedded store's BM25 and FAISS parts, `filters.py` the metadata filters every store applies,
`library.py` the page files that updates change. A new store is one module exposing `BACKEND` and one line in
STORES (or, without touching this package, QA_STORE=`module:attribute`).
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING

from qa.errors import NotReady

if TYPE_CHECKING:
    from qa.config import Config
    from qa.storage.backend import Backend

# QA_STORE -> the module that implements it, imported when first asked for (embedded serving never loads pymilvus).
STORES = {"embedded": "qa.storage.embedded", "milvus": "qa.storage.milvus"}
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # "module:attribute", a store kept outside qa/


def open(config: Config) -> Backend:  # noqa: A001 - the package's one entry point: storage.open(config)
    """The operations of the store QA_STORE names."""
    name = config.store
    if name in STORES:
        return importlib.import_module(STORES[name]).BACKEND
    if IMPORT_PATH.match(name):
        module, attribute = name.split(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise NotReady(f"QA_STORE={name!r}: cannot load that store ({error})") from error
    raise NotReady(f"QA_STORE={name!r} is no store: one of {', '.join(STORES)}, or a module:attribute")
