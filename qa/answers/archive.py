"""Questions about the archive itself (who wrote an article, when it appeared, on which page, which articles):
recognised from the question and answered from the parsed article records, every item cited by raw offsets."""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass

from qa.answers.kinds import BYLINE, DATE, FACT, LIST, PAGE, topic_phrases
from qa.errors import StoreUnavailable
from qa.ingest import citations, dates
from qa.ingest.documents import Article
from qa.ingest.normalize import normalise
from qa.language.tokenize import Tokenizer
from qa.storage.filters import Filters, Paging
from qa.storage.records import Records

FIELD_OF = {BYLINE: "byline", DATE: "date", PAGE: "headline"}  # what a record answer of each kind cites
# "这几天", "这位记者", "那个版面": pointers at what the filters or the conversation give, not a topic.
_POINTER = re.compile(r"^(?:这|那|该|此|本|同一?)(?:个|些|位|几|一|期|版|篇|条|则|组|批|类|段|份|天|周|月|年|次|里|边|儿|报)[\u4e00-\u9fff]{0,3}$")
ADJACENT_CHARS = 40
MAX_TOPIC_PHRASES = 8  # a list topic's phrases read at most (each may cost a pass over the articles)
_THIS_PAGE = re.compile(r"这一?版|本版|同一?版|这一?页|本页|同一页")


def searched(question: str, kind: str, tokenizer: Tokenizer) -> str:
    """What retrieval looks for: a record question without its frame ("南曹街道那篇报道的标题是什么？" ->
    "南曹街道"), so that the words about bylines, dates and headlines do not weigh on which article it finds."""
    if kind == FACT:
        return question
    return "".join(topic_phrases(question, tokenizer)) or question


def on_this_page(question: str) -> bool:
    """"这一版还有哪些报道？": a list over the page of the article the conversation is about."""
    return bool(_THIS_PAGE.search(normalise(question)))


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


def _arabic_date(phrase: str) -> str:
    """"十二月二十日" as the seeds print dates, "12月20日" (a date in any other form, or no date, stays)."""
    match = dates.PRINTED_DATE.fullmatch(phrase)
    if not match or not match["cmonth"]:
        return phrase
    year, month, day = dates.numbers(match)
    return f"{year}年{month}月{day}日" if year else f"{month}月{day}日"


class Topics:
    """Which articles of an index a list question's topic names (in the headline, kicker, body, bylines or printed
    date), most prominent first: the headline or kicker naming it before the body, then more mentions, then page
    order. The articles' texts are the records' (qa.storage.records.matchable)."""

    def __init__(self, tokenizer: Tokenizer, records: Records):
        self.tokenizer, self.records = tokenizer, records

    def topic(self, question: str) -> list[str]:
        """The topic's phrases: the question without its list frame ("中原区有什么新闻？" -> ["中原区"])."""
        phrases = (self.tokenizer.prepare(_arabic_date(p)) for p in topic_phrases(question, self.tokenizer))
        return [p for p in phrases if re.search(r"\w", p) and not _POINTER.match(p)][:MAX_TOPIC_PHRASES]

    def listed(self, question: str, filters: Filters, paging: Paging) -> tuple[int, list[Article]]:
        """How many articles the filters pass that print every phrase of the question's topic (quotes and blanks
        aside: "亮赛比活动" is in “亮赛比”活动), and one page of them. A question with no topic lists the filtered
        articles in page order, or, with no filter either, the archive's newest first: its cost is one page's."""
        phrases = [word for p in self.topic(question) for word in self._printed(p, filters)]
        if not phrases:
            return self.records.listing(filters, paging, newest=not filters)
        found = self.records.texts(filters, phrases)
        if len(phrases) == 1:  # the usual case, without a generator per article
            phrase = phrases[0]
            ranked = [(phrase not in title, -text.count(phrase), order, article)
                      for order, (article, title, text) in enumerate(found)]
        else:
            ranked = [(not all(p in title for p in phrases), -sum(text.count(p) for p in phrases), order, article)
                      for order, (article, title, text) in enumerate(found)]  # `order` is unique: no Article compared
        first = heapq.nsmallest(paging.offset + paging.limit, ranked)  # the pages up to this one, not all sorted
        return len(found), [a for *_, a in first[paging.offset:]]

    def _printed(self, phrase: str, filters: Filters) -> list[str]:
        """A phrase no article prints ("帮我找西藏"): its nouns instead, when there are any ("西藏"); a topic the
        archive does not hold stays as it is, and then no article matches."""
        if self.records.texts(filters, [phrase], limit=1):
            return [phrase]
        nouns = [w for w, flag in self.tokenizer.tagged(phrase) if len(w) >= 2 and (flag[0] == "n" or flag == "vn")]
        return nouns or [phrase]
