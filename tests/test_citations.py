"""Citation ids: one grammar, in qa/ingest/citations.py alone, that reads back every id it writes."""

from __future__ import annotations

import re

import pytest

from qa.config import ROOT
from qa.ingest import citations
from qa.ingest.citations import ARTICLE, FIELD, FIELDS, PASSAGE, SENTENCE, Cited

STEMS = ["000_e4c7cc7442eff8db", "zz_update-page", "a-a01-c01", "版面 3"]  # a stem may itself look like an id


@pytest.mark.parametrize("stem", STEMS)
def test_every_kind_reads_back_as_written(stem):
    article = citations.article_id(stem, 3)
    passage = citations.passage_id(article, 12)
    written = {
        article: Cited(ARTICLE, article),
        passage: Cited(PASSAGE, article, passage),
        citations.sentence_id(passage, 0): Cited(SENTENCE, article, passage, sentence=0),
        citations.sentence_id(passage, 123): Cited(SENTENCE, article, passage, sentence=123),
        **{citations.field_id(article, name): Cited(FIELD, article, field=name) for name in FIELDS},
    }
    for text, cited in written.items():
        assert citations.parse(text) == cited and cited.id == text


def test_the_ids_are_the_ones_the_archive_prints():
    passage = citations.passage_id(citations.article_id("000_e4c7cc7442eff8db", 1), 2)
    assert passage == "000_e4c7cc7442eff8db-a01-c02"
    assert citations.sentence_id(passage, 4) == "000_e4c7cc7442eff8db-a01-c02-s04"
    assert citations.field_id("000_e4c7cc7442eff8db-a01", "byline") == "000_e4c7cc7442eff8db-a01-byline"
    with pytest.raises(ValueError):
        citations.field_id("000_e4c7cc7442eff8db-a01", "title")


@pytest.mark.parametrize("text", [
    "", "-a01", "p-a1", "p-a01-c1", "p-a01-c01-s1", "p-a01-c01-s001", "p-a001", "p-a01-title", "p-a01-s01",
    "p-a01-c01-byline", "p-a01-c01-s01-s01", "p-a01-c01-s01-", "p-a01-cxx", "p-a01-c-01", "p-a01-c01\n",
    "p-a01-c01-s０１",  # full-width digits
    "p-a01-c01-s" + "9" * 5000, "p-a" + "1" * 5000,  # numbers no page holds, too long for int()
])
def test_ids_it_never_writes_are_refused(text):
    assert citations.parse(text) is None


def test_a_sentence_belongs_to_its_own_passage_only():
    passage = "p-a01-c02"
    assert citations.is_sentence_of("p-a01-c02-s00", passage)
    assert not citations.is_sentence_of("p-a01-c02", passage)
    assert not citations.is_sentence_of("p-a01-c02-byline", passage)
    assert not citations.is_sentence_of("p-a01-c020-s00", passage), "a passage whose id starts with the other's"


# How an id was written or cut before qa/ingest/citations.py held the grammar: "-a", "-c" and "-s" and a number
# in an f-string, or an id split or matched on those letters.
ID_PATTERNS = re.compile(r"""-[acs]\{[^}]*:02d\}|partition\(["']-[acs]["']\)|["']-[acs]["']\s*\)|\+ ["']-[acs]["']""")


def test_no_other_module_writes_or_cuts_an_id():
    offending = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in sorted((ROOT / "qa").rglob("*.py")) if path.name != "citations.py"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if ID_PATTERNS.search(line)]
    assert offending == []
