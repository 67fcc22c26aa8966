"""Questions about the archive itself (who wrote an article, when it appeared, on which page, which articles):
recognised from the question and answered from the parsed article records, every item cited by raw offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.ingest.documents import Article
from qa.ingest.normalize import normalise
from qa.language.tokenize import Tokenizer
from qa.storage.filters import Filters
from qa.storage.records import Records

FACT, BYLINE, DATE, PAGE, LIST = "fact", "byline", "date", "page", "list"
KINDS = (FACT, BYLINE, DATE, PAGE, LIST)
FIELDS = ("headline", "byline", "date")  # the cited parts of a record: citation ids "<article id>-<field>"
FIELD_OF = {BYLINE: "byline", DATE: "date", PAGE: "headline"}  # what a record answer of each kind cites
FIELD_ID = re.compile(rf"^(?P<article>.+)-(?P<field>{'|'.join(FIELDS)})$")

# What marks each kind. Some phrasings are the archive's own ("记者是谁", "登在第几版", "哪些新闻"); others
# are so only about a report ("作者是谁", "是谁写的", "发表在哪里" are asked of books too), and count only when
# the question names a report. A fact question about a person ("大会由谁主持？") or a time ("活动是哪天举行
# 的？") stays a fact. Checked against the public QA sets, whose questions are all facts (BENCHMARKS.md).
# 通讯 (a news feature) is left out: it means communications too (通讯基站), and 通讯员 is a role below.
_REPORT = r"(?:报道|报导|文章|新闻|稿件|稿子|消息|这篇|那篇|该篇|此篇|该文|此文|本文|一文)"
_ROLES = r"(?:作者|记者|通讯员|撰稿人?|署名|摄影师?|摄影记者|实习生|执笔人?)"
_NEWS_ROLES = r"(?:记者|通讯员|摄影记者|实习生)"
_WHO = r"(?:谁|哪位|哪几位|哪些人|几位|叫什么|叫啥|姓名|名字)"
_KINDS = {  # kind: (its phrasings, its phrasings that count only with a report word)
    BYLINE: (rf"谁(?:报道|报导|采写|采访|拍|拍摄|摄影|供稿)的|由谁(?:采写|报道|拍摄)|(?:哪位|哪个|哪些|哪几位){_NEWS_ROLES}"
             rf"|{_NEWS_ROLES}[^,，。?？]{{0,4}}{_WHO}|{_NEWS_ROLES}(?:都?是|有)(?=[?？]?$)",
             rf"谁(?:写|撰写|编写|执笔|发)的|由谁(?:写|撰写|执笔)|谁写了|谁执笔|出自谁|谁之手|谁的(?:稿|手笔)|署(?:的|了)?谁的名"
             rf"|{_ROLES}[^,，。?？]{{0,4}}{_WHO}|{_ROLES}(?:都?是|有)(?=[?？]?$)|(?:哪位|哪个)作者"),
    PAGE: (r"哪一?版(?!本)|第几版|哪个版(?:面)?(?![块本图])|第几页|哪张报纸|(?:登|刊登|刊载|见报)在(?:了)?(?:哪|什么|第几)",
           r"哪一?页|哪个页面|(?:发表|刊发|印|排)在(?:了)?(?:哪|什么|第几)"
           r"|(?:标题|题目|大标题|眉题|引题|肩题)(?:是什么|叫什么|是啥|叫啥|是|为)|什么标题|什么题目|以什么为题"
           r"|哪(?:个|家)(?:单位|部门|街道|机构|组织|乡镇)(?:的|发的|写的)"),
    DATE: (r"(?:哪天|哪一天|什么时候|何时|几月几[日号]|几号)(?:刊登|刊发|见报|登出|刊出|登报|登的)",
           r"哪天|哪一天|什么时候|何时|几月几[日号]|几号|日期|什么日子|哪个日子|(?:哪天|哪一天|什么时候|何时)(?:发表|发布|发的)"),
    LIST: (rf"(?:哪些|什么|哪几篇|哪几条|几篇|几条|多少篇|多少条){_REPORT}|列出|列一下|有哪几篇|有几篇|有多少篇"
           r"|(?:报纸|这期|本期|这一?版|本版|版面|这份报)[^,，。?？]{0,6}(?:什么|哪些)"
           r"|(?:登|刊登|刊发|刊出|收录)了?(?:什么|哪些)",
           rf"(?:有哪些|有什么|有没有|都有什么)[^,，。?？]{{0,16}}{_REPORT}"
           rf"|{_REPORT}(?:都?有哪些|都?有什么|有几篇|有多少|有哪几篇)|(?:报道|发表)了?(?:什么|哪些)"),
}
_PATTERNS = {kind: (re.compile(alone), re.compile(about_reports)) for kind, (alone, about_reports) in _KINDS.items()}
_REPORTED = re.compile(_REPORT)
# The frame of a list question: what is left is its topic ("中原区有什么新闻？" -> "中原区").
_LIST_FRAME = re.compile(
    rf"请问|请列出|列出|列一下|给我|帮我|找一?下|找找|一下|所有|全部|有哪些|有什么|有没有|有几篇|有多少篇|哪几篇|哪几条|哪些"
    rf"|什么|多少篇|多少条|几篇|几条|都|关于|有关|相关|方面|之类|跟|和|与|收录|介绍"
    rf"|(?:提|说|讲|谈|写|采写|报道|刊登|登|发表|刊发|涉|参与|参加)(?:到|及)?了?|{_ROLES}|{_REPORT}|事情?|内容"
    r"|这期|本期|这份|报纸|资料库|档案|版面|的|了|过|吗|呢|啊|[\s,，。.?？!！:：、;；“”\"'‘’《》「」()（）]")
# "这几天", "这位记者", "那个版面": pointers at what the filters or the conversation give, not a topic.
_POINTER = re.compile(r"^(?:这|那|该|此|本|同一?)(?:个|些|位|几|一|期|版|篇|条|则|组|批|类|段|份|天|周|月|年|次|里|边|儿|报)[\u4e00-\u9fff]{0,3}$")
# Words about the report itself, left out of what a record question searches.
_RECORD_FRAME = re.compile(rf"{_REPORT}|{_ROLES}|[这那该此]条|是谁|由谁|谁|哪天|哪一天|什么时候|何时|标题|题目|是什么|叫什么"
                           r"|发表|刊登|刊发|见报|有哪些|哪些|列出")
ADJACENT_CHARS = 40
_THIS_PAGE = re.compile(r"这一?版|本版|同一?版|这一?页|本页|同一页")


def question_kind(question: str) -> str:
    """The answer kind a question asks for (one of KINDS); a question that is none of the others is a fact."""
    text = normalise(question)
    reported = bool(_REPORTED.search(text))
    for kind, (alone, about_reports) in _PATTERNS.items():
        if alone.search(text) or (reported and about_reports.search(text)):
            return kind
    return FACT


def searched(question: str, kind: str) -> str:
    """What retrieval looks for: a record question without its frame ("南曹街道那篇报道的标题是什么？" ->
    "南曹街道的"), so that the words about bylines, dates and headlines do not weigh on which article it finds."""
    if kind == FACT:
        return question
    alone, about_reports = _PATTERNS[kind]
    text = _RECORD_FRAME.sub("", about_reports.sub("", alone.sub("", normalise(question))))
    return text.strip(" ,，。?？!！") or question


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
        phrases = _LIST_FRAME.split(self.tokenizer.prepare(normalise(question)))
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
