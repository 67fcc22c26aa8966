"""Records that flow through the pipeline: articles, chunks, hits and citations."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Article:
    """One article of a page, as parsed.

    `body_start`/`body_end` are offsets in the raw page file;
    `body == normalise(raw[body_start:body_end])` (see `qa.ingest.normalize`). Every `*_span` is a pair of
    raw offsets (a, b) with `normalise(raw[a:b])` equal to the text it locates.
    """

    id: str  # stable: "<page stem>-a<NN>", NN counting from 01 in page order
    page: str  # page file name, e.g. "000_e4c7cc7442eff8db.txt"
    headline: str
    kicker: str | None  # issuing organisation above the headline, if any
    date: str | None  # as printed (normalised), e.g. "12月21日", "2021年12月23日"; else the page header's
    reporters: tuple[str, ...]  # 记者 and 实习生
    correspondents: tuple[str, ...]  # 通讯员
    body: str  # normalise(raw[body_start:body_end])
    body_start: int
    body_end: int
    warnings: tuple[str, ...] = ()  # what the parser was unsure of (shown by /api/articles/<id>)
    # the date normalised: "2021-12-23", or "--12-23" when neither the article nor its page gives a year
    day: str | None = None
    photographers: tuple[str, ...] = ()  # 摄影 (记者), and the names a 摄 / 摄影 credit closes
    headline_span: tuple[int, int] | None = None  # raw offsets (in the page file) of the headline as printed
    # raw offsets of the kicker (for an organisation heading the headline line: that part)
    kicker_span: tuple[int, int] | None = None
    # raw offsets of the printed date `date` was read from (lead or page header)
    date_span: tuple[int, int] | None = None
    # raw offsets of each byline (its own line, the tail run into a paragraph, or in parentheses after 本报讯)
    # that named the article's people; for a byline taken from another article, that article's
    byline_spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
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
