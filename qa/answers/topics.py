"""The topic of a record question: what retrieval searches for (the question without its frame) and which
articles a list question names, most prominent first."""

from __future__ import annotations

import heapq
import re

from qa.answers.kinds import FACT, topic_phrases
from qa.ingest import dates
from qa.ingest.documents import Article
from qa.ingest.normalize import normalise
from qa.language.tokenize import Tokenizer
from qa.storage.filters import Filters, Paging
from qa.storage.records import Records

# "这几天", "这位记者", "那个版面": pointers at what the filters or the conversation give, not a topic.
_POINTER = re.compile(r"^(?:这|那|该|此|本|同一?)(?:个|些|位|几|一|期|版|篇|条|则|组|批|类|段|份|天|周|月|年|次|里|边|儿|报)[\u4e00-\u9fff]{0,3}$")
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
