"""The index every store serves: the records answers are read from (records.py), its manifest (format, model,
settings, counts) and a store that searches it. How an index is built is qa.indexing's; how it is kept, the
store's (embedded.py: files; milvus/: collections)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from qa.errors import IndexMismatch
from qa.indexing.corpus import Corpus
from qa.indexing.manifest import FORMAT_VERSION
from qa.storage.records import CorpusRecords, Records
from qa.storage.store import Store

DAMAGED = "index_damaged"  # error code of an index folder that cannot be read


@dataclass
class Index:
    """Everything a query needs: the records answers are read from, and a store that searches them."""

    records: Records
    store: Store
    manifest: dict

    @classmethod
    def of(cls, corpus: Corpus, store: Store, types: list[list[list[str]]], manifest: dict) -> "Index":
        """An index whose corpus this process holds (`types`: per chunk, per sentence, the answer types present)."""
        return cls(CorpusRecords(corpus, types), store, manifest)


def record_of(cls, row: dict):
    """A dataclass record from its JSON row (lists back to tuples, other keys left out)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _tuples(v) for k, v in row.items() if k in names})


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def check_format(manifest: dict, where: str, advice: str, layout: dict[str, int] | None = None) -> None:
    """Refuse an index of another format (the records', and a store's own `layout` versions): this code would
    misread it."""
    wanted = {"format_version": FORMAT_VERSION} | (layout or {})
    found = {name: manifest.get(name) for name in wanted}
    if found != wanted:
        def versions(values: dict) -> str:
            return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in values.items())
        raise IndexMismatch(f"{where} has another format ({versions(found)}; this code reads {versions(wanted)}): "
                            f"{advice}")
