"""A corpus's chunks and answer types held as columns (the ids in one buffer, arrays of numbers; the texts are the
pages') instead of Python objects per passage: what the embedded store keeps in memory. Each reads as the list it
replaces, a `Chunk` or a passage's types made when asked for."""

from __future__ import annotations

from abc import abstractmethod
from array import array
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property

from qa.ingest.documents import Chunk
from qa.ingest.normalize import normalise


class _Column(Sequence):
    """A sequence whose items are made when read: `_item` of a valid, non-negative index."""

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._item(range(len(self))[i])

    @abstractmethod
    def _item(self, i: int):
        """The item at index i (0 <= i < len)."""


class TextColumn(_Column):
    """Strings in one buffer with their end offsets. Hand-written: a str object per string costs about 75 bytes
    more, and numpy's StringDType keeps UTF-8 (3 bytes a Chinese character against the 2 of a Python str)."""

    def __init__(self, texts: Iterable[str] = ()):
        self._parts: list[str] | None = []
        self._ends = array("q")
        for text in texts:
            self.append(text)

    def append(self, text: str) -> None:
        self._parts.append(text)
        self._ends.append((self._ends[-1] if self._ends else 0) + len(text))

    @cached_property
    def buffer(self) -> str:
        """The strings joined, made at the first read (then no more appends)."""
        buffer, self._parts = "".join(self._parts), None
        return buffer

    def __len__(self) -> int:
        return len(self._ends)

    def _item(self, i: int):
        return self.buffer[self._ends[i - 1] if i else 0 : self._ends[i]]


class ChunkColumns(_Column):
    """The chunks of a corpus, in order: ids in a buffer, offsets and sentence bounds in arrays, the article (and
    through it the page) by number. Their texts are not kept: a chunk's is made when it is read from the raw page
    text its offsets point into, `normalise(raw[start:end])` (Chunk's invariant, tested in tests/test_chunk.py),
    so that the archive's text is held once, in its pages (8 us a passage)."""

    def __init__(self, pages: Mapping[str, str], chunks: Iterable[Chunk] = ()):
        self.page_texts = pages
        self.ids = TextColumn()
        self.articles: list[tuple[str, str]] = []  # (article id, page) by number
        self._number: dict[str, int] = {}
        self.article, self.start, self.end = array("i"), array("q"), array("q")
        self.bounds = array("i")  # (start, end) of each sentence in its chunk's text, flat
        self.sentences = array("q", [0])  # chunk i's sentences: pairs sentences[i] to sentences[i + 1]
        for chunk in chunks:
            self.append(chunk)

    def append(self, chunk: Chunk) -> None:
        if chunk.article_id not in self._number:
            self._number[chunk.article_id] = len(self.articles)
            self.articles.append((chunk.article_id, chunk.page))
        self.ids.append(chunk.id)
        self.article.append(self._number[chunk.article_id])
        self.start.append(chunk.start)
        self.end.append(chunk.end)
        self.bounds.extend(b for pair in chunk.sentences for b in pair)
        self.sentences.append(self.sentences[-1] + len(chunk.sentences))

    def freeze(self) -> "ChunkColumns":
        """Join the ids' buffer now (the strings appended are freed), not at the first read: no more appends."""
        _ = self.ids.buffer
        return self

    def article_number(self, article_id: str) -> int | None:
        """The number of an article among the chunks' (its place in `articles`), None for one without chunks."""
        return self._number.get(article_id)

    def article_ids(self) -> list[str]:
        """Each chunk's article id, without making the chunks."""
        return [self.articles[n][0] for n in self.article]

    def pages(self) -> list[str]:
        """Each chunk's page, without making the chunks."""
        return [self.articles[n][1] for n in self.article]

    def __len__(self) -> int:
        return len(self.ids)

    def _item(self, i: int):
        article_id, page = self.articles[self.article[i]]
        flat = self.bounds[2 * self.sentences[i] : 2 * self.sentences[i + 1]]
        text = normalise(self.page_texts[page][self.start[i] : self.end[i]])
        return Chunk(self.ids[i], article_id, page, text, self.start[i], self.end[i],
                     tuple(zip(flat[::2], flat[1::2])))


class TypeColumns(_Column):
    """Each passage's answer types per sentence: a number per sentence into the table of the distinct type lists
    (a handful of them recur across the whole archive)."""

    def __init__(self, types: Iterable[list[list[str]]] = ()):
        self._number: dict[tuple[str, ...], int] = {}
        self.table: list[tuple[str, ...]] = []
        self.codes, self.offsets = array("i"), array("q", [0])
        for passage in types:
            self.append(passage)

    def append(self, passage: list[list[str]]) -> None:
        for sentence in passage:
            key = tuple(sentence)
            if key not in self._number:
                self._number[key] = len(self.table)
                self.table.append(key)
            self.codes.append(self._number[key])
        self.offsets.append(self.offsets[-1] + len(passage))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _item(self, i: int):
        return [list(self.table[c]) for c in self.codes[self.offsets[i] : self.offsets[i + 1]]]
