"""Citation ids: the one grammar of every id the service hands out (article, passage, sentence, record field)."""

from __future__ import annotations

import re
from dataclasses import dataclass

ARTICLE, PASSAGE, SENTENCE, FIELD = "article", "passage", "sentence", "field"
FIELDS = ("headline", "byline", "date")  # the printed parts of an article record a field id cites

# "<page stem>-aNN", its passages "<article id>-cNN", their sentences "<passage id>-sNN" and its fields
# "<article id>-<field>"; NN counts from 01 (sentences from 00), two digits at least and at most six (no page
# holds a million articles), so that a hostile id never makes a huge int.
_N = r"[0-9]{2,6}"
_ARTICLE = rf"(?P<article>(?P<stem>.+)-a(?P<number>{_N}))"
_GRAMMAR = {
    ARTICLE: re.compile(rf"{_ARTICLE}"),
    PASSAGE: re.compile(rf"(?P<passage>{_ARTICLE}-c{_N})"),
    SENTENCE: re.compile(rf"(?P<passage>{_ARTICLE}-c{_N})-s(?P<sentence>{_N})"),
    FIELD: re.compile(rf"{_ARTICLE}-(?P<field>{'|'.join(FIELDS)})"),
}


def article_id(page_stem: str, number: int) -> str:
    """The id of a page's `number`th article (from 1, in page order)."""
    return f"{page_stem}-a{number:02d}"


def passage_id(article: str, number: int) -> str:
    """The id of an article's `number`th passage (from 1)."""
    return f"{article}-c{number:02d}"


def sentence_id(passage: str, index: int) -> str:
    """The id of a passage's sentence at `index` (from 0, as in Chunk.sentences)."""
    return f"{passage}-s{index:02d}"


def field_id(article: str, field: str) -> str:
    """The id of a printed part of an article record: one of FIELDS."""
    if field not in FIELDS:
        raise ValueError(f"{field!r} is not one of {FIELDS}")
    return f"{article}-{field}"


@dataclass(frozen=True)
class Cited:
    """What a citation id names, read from the id alone (whether the archive holds it is the store's to say)."""

    kind: str  # ARTICLE, PASSAGE, SENTENCE or FIELD
    article: str  # the article id, which every kind names
    passage: str | None = None  # PASSAGE and SENTENCE
    sentence: int | None = None  # SENTENCE: the index in Chunk.sentences
    field: str | None = None  # FIELD: one of FIELDS

    @property
    def id(self) -> str:
        """The id again, as this module formats it."""
        if self.kind == SENTENCE:
            return sentence_id(self.passage, self.sentence)
        if self.kind == FIELD:
            return field_id(self.article, self.field)
        return self.passage if self.kind == PASSAGE else self.article


def parse(citation_id: str) -> Cited | None:
    """What an id names; None for an id this module never formats (another grammar, or numbers written otherwise,
    such as "-s1" for "-s01"), so that only the ids handed out are looked up."""
    for kind, pattern in _GRAMMAR.items():
        match = pattern.fullmatch(citation_id)
        if match is None:
            continue
        parts = match.groupdict()
        sentence = parts.get("sentence")
        cited = Cited(kind, parts["article"], parts.get("passage"), None if sentence is None else int(sentence),
                      parts.get("field"))
        # One spelling per id: no leading zeros beyond the two digits, in the article's number too.
        if cited.id == citation_id and article_id(parts["stem"], int(parts["number"])) == cited.article:
            return cited
    return None


def is_sentence_of(citation_id: str, passage: str) -> bool:
    """Whether an id cites one sentence of the passage `passage`."""
    cited = parse(citation_id)
    return cited is not None and cited.kind == SENTENCE and cited.passage == passage
