"""Questions about the archive itself (who wrote an article, when it appeared, on which page, which articles):
recognised from the question and answered from the parsed article records, every item cited by raw offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answers.kinds import BYLINE, DATE, FACT, PAGE, topic_phrases
from qa.ingest.documents import Article
from qa.ingest.normalize import normalise
from qa.language.tokenize import Tokenizer
from qa.storage.filters import Filters
from qa.storage.records import Records

FIELDS = ("headline", "byline", "date")  # the cited parts of a record: citation ids "<article id>-<field>"
FIELD_OF = {BYLINE: "byline", DATE: "date", PAGE: "headline"}  # what a record answer of each kind cites
FIELD_ID = re.compile(rf"^(?P<article>.+)-(?P<field>{'|'.join(FIELDS)})$")
# "这几天", "这位记者", "那个版面": pointers at what the filters or the conversation give, not a topic.
_POINTER = re.compile(r"^(?:这|那|该|此|本|同一?)(?:个|些|位|几|一|期|版|篇|条|则|组|批|类|段|份|天|周|月|年|次|里|边|儿|报)[\u4e00-\u9fff]{0,3}$")
ADJACENT_CHARS = 40
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
    name: str  # one of FIELDS
    text: str
    start: int
    end: int

    @property
    def citation(self) -> str:
        return f"{self.article.id}-{self.name}"


def field(article: Article, name: str, raw: str) -> Field | None:
    """The record's field `name` where the page prints it (None when it does not: no byline, no date)."""
    spans = {"headline": [article.headline_span] if article.headline_span else [],
             "byline": list(article.byline_spans), "date": [article.date_span] if article.date_span else []}[name]
    if not spans:
        return None
    start, end = spans[0]
    for a, b in spans[1:]:
        if a - end <= ADJACENT_CHARS:  # a byline over two lines ("记者 …" / "通讯员 …") is cited whole
            end = b
    return Field(article, name, normalise(raw[start:end]), start, end)


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


class Topics:
    """Which articles of an index a list question's topic names (in the headline, kicker, body, bylines or printed
    date), most prominent first: the headline or kicker naming it before the body, then more mentions, then page
    order. The articles' texts are the records' (qa.storage.records.matchable)."""

    def __init__(self, tokenizer: Tokenizer, records: Records):
        self.tokenizer, self.records = tokenizer, records

    def topic(self, question: str) -> list[str]:
        """The topic's phrases: the question without its list frame ("中原区有什么新闻？" -> ["中原区"])."""
        phrases = (self.tokenizer.prepare(p) for p in topic_phrases(question, self.tokenizer))
        return [p for p in phrases if re.search(r"\w", p) and not _POINTER.match(p)]

    def listed(self, question: str, filters: Filters) -> list[Article]:
        """The articles the filters pass that print every phrase of the question's topic (quotes and blanks aside:
        "亮赛比活动" is in “亮赛比”活动)."""
        phrases = [word for p in self.topic(question) for word in self._printed(p, filters)]
        ranked = []
        for order, (article, title, text) in enumerate(self.records.texts(filters, phrases, self.tokenizer.prepare)):
            in_title = all(p in title for p in phrases)
            mentions = sum(text.count(p) for p in phrases)
            ranked.append((not in_title, -mentions, order, article))
        return [a for *_, a in sorted(ranked, key=lambda r: r[:3])]

    def _printed(self, phrase: str, filters: Filters) -> list[str]:
        """A phrase no article prints ("帮我找西藏"): its nouns instead, when there are any ("西藏"); a topic the
        archive does not hold stays as it is, and then no article matches."""
        if self.records.texts(filters, [phrase], self.tokenizer.prepare, limit=1):
            return [phrase]
        nouns = [w for w, flag in self.tokenizer.tagged(phrase) if len(w) >= 2 and (flag[0] == "n" or flag == "vn")]
        return nouns or [phrase]
