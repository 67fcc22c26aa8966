"""Answers about the archive itself (who wrote an article, when it appeared, on which page, which articles),
read from the parsed article records, every item cited by raw offsets (the question's kind: kinds.py; the
articles a list question names: topics.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qa.answers.kinds import BYLINE, DATE, LIST, PAGE
from qa.errors import StoreUnavailable
from qa.ingest import citations
from qa.ingest.documents import Article
from qa.ingest.normalize import normalise
from qa.storage.filters import Paging
from qa.storage.records import Records

FIELD_OF = {BYLINE: "byline", DATE: "date", PAGE: "headline"}  # what a record answer of each kind cites
ADJACENT_CHARS = 40


@dataclass(frozen=True)
class Field:
    """A cited part of an article record as printed: its normalised text and raw offsets in the page file."""

    article: Article
    name: str  # one of citations.FIELDS
    text: str
    start: int
    end: int

    @property
    def citation(self) -> str:
        return citations.field_id(self.article.id, self.name)


def field(article: Article, name: str, raw: str) -> Field | None:
    """The record's field `name` where the page prints it (None when it does not: no byline, no date). A byline
    printed in several places (the reporters' line, a photo credit further on) is cited whole: its offsets run from
    the first to the last, its text is each piece as printed, joined by " … " where they are apart."""
    spans = {"headline": [article.headline_span] if article.headline_span else [],
             "byline": list(article.byline_spans), "date": [article.date_span] if article.date_span else []}[name]
    if not spans:
        return None
    pieces = [list(spans[0])]
    for a, b in spans[1:]:
        if a - pieces[-1][1] <= ADJACENT_CHARS:  # a byline over two lines ("记者 …" / "通讯员 …") is one piece
            pieces[-1][1] = max(pieces[-1][1], b)
        else:
            pieces.append([a, b])
    text = " … ".join(normalise(raw[a:b]) for a, b in pieces)
    return Field(article, name, text, pieces[0][0], pieces[-1][1])


def summary(article: Article) -> dict:
    """An article as replies list it (the record without its body)."""
    return {"id": article.id, "title": article.headline, "kicker": article.kicker, "date": article.date,
            "day": article.day, "reporters": list(article.reporters), "correspondents": list(article.correspondents),
            "photographers": list(article.photographers), "page": article.page}


def list_answer(records: Records, total: int, listed: list[Article], paging: Paging,
                first_passage: Callable[[str], str]) -> dict:
    """A list answer: one page of articles (`listed`, of `total`), each citing its printed headline (or, where the
    headline's offsets cannot be told exactly, `first_passage(article id)`); their pages read in one go."""
    pages = records.pages([article.page for article in listed])
    items = []
    for article in listed:
        if article.page not in pages:
            raise StoreUnavailable.gone(article.page)
        cited = field(article, "headline", pages[article.page])
        items.append({"title": article.headline, "citation": cited.citation if cited else first_passage(article.id),
                      "span": {"start": cited.start, "end": cited.end} if cited else None,
                      "article": summary(article)})
    first = paging.offset + 1
    part = f"，第{first}–{first + len(items) - 1}篇" if items and len(items) < total else ""
    text = f"共{total}篇{part}：" + "；".join(f"《{item['title']}》" for item in items) if items else f"共{total}篇。"
    return {"kind": LIST, "text": text, "items": items, "confidence": 1.0, "support": 1.0,
            "citation": items[0]["citation"] if items else None,
            "page": items[0]["article"]["page"] if items else None} | paging.to_json(total)


def reading(article: Article, kind: str) -> str:
    """A record answer's text: the byline's people by role, the date as printed, or where the article is."""
    return {BYLINE: byline_text, DATE: lambda a: a.date or "", PAGE: page_text}[kind](article)


def byline_text(article: Article) -> str:
    """The people of an article's bylines by role: "记者 柴琳琳；通讯员 刘博闻"."""
    roles = (("记者", article.reporters), ("通讯员", article.correspondents), ("摄影", article.photographers))
    return "；".join(f"{role} {'、'.join(names)}" for role, names in roles if names)


def page_text(article: Article) -> str:
    """Where an article is printed: "《headline》（kicker），page"."""
    kicker = f"（{article.kicker}）" if article.kicker else ""
    return f"《{article.headline}》{kicker}，{article.page}"
