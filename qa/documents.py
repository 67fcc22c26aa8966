"""Records that flow through the pipeline: articles, chunks, hits and citations."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One article of a page, as parsed.

    `body_start`/`body_end` are offsets in the raw page file;
    `body == normalise(raw[body_start:body_end])` (see `qa.normalize`).
    """

    id: str  # stable: "<page stem>-a<NN>", NN counting from 01 in page order
    page: str  # page file name, e.g. "000_e4c7cc7442eff8db.txt"
    headline: str
    kicker: str | None  # issuing organisation above the headline, if any
    date: str | None  # as printed, e.g. "12月21日" (no year on the pages)
    reporters: tuple[str, ...]
    correspondents: tuple[str, ...]
    body: str  # normalise(raw[body_start:body_end])
    body_start: int
    body_end: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A passage of one article: the unit that is indexed and cited."""

    id: str  # stable: "<article id>-c<NN>"
    article_id: str
    page: str
    text: str  # normalised cited text (no headline)
    start: int  # raw offsets in the page file: normalise(raw[start:end]) == text
    end: int
    # sentence boundaries as (start, end) offsets into `text`
    sentences: tuple[tuple[int, int], ...] = ()

    def indexed_text(self, headline: str) -> str:
        """The text that is embedded and BM25-indexed: headline, then passage."""
        return f"{headline}\n{self.text}" if headline else self.text


@dataclass
class Hit:
    """A retrieved chunk with the scores that ranked it."""

    chunk: Chunk
    score: float
    scores: dict[str, float] = field(default_factory=dict)  # per retriever/feature
