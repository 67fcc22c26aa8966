"""The records of a corpus held in this process (qa.storage.records.CorpusRecords): fast, no model."""

from __future__ import annotations

import pytest

from qa.config import Config
from qa.indexing.corpus import Corpus, read_seeds
from qa.storage.filters import Filters
from qa.storage.records import CorpusRecords, Records, matchable


def _corpus() -> Corpus:
    pages, _ = read_seeds(Config().seeds_dir)
    return Corpus.from_pages(pages, Config())


def _records(corpus: Corpus | None = None) -> CorpusRecords:
    corpus = corpus or _corpus()
    return CorpusRecords(corpus, [[[] for _ in chunk.sentences] for chunk in corpus.chunks])


def test_the_records_give_the_parsed_texts_holding_only_the_pages():
    corpus = _corpus()
    records = _records(corpus)
    passages = records.passages(range(len(corpus.chunks)))
    assert [p.chunk for p in passages] == list(corpus.chunks)
    assert all(records.article(key) == article for key, article in corpus.articles.items())
    assert all(not a.body for a in records.articles()), "summaries: the bodies are made only when an article is asked for"
    assert corpus.articles[next(iter(corpus.articles))].body, "the corpus given is left as it was"


def test_list_texts_are_made_by_warm_with_the_preparation_it_is_told():
    records = _records()
    with pytest.raises(RuntimeError, match="warm"):
        records.texts(Filters(), ["街道"])
    records.warm(str)
    article = next(iter(records.corpus.articles.values()))
    assert article.id in [a.id for a, _, _ in records.texts(Filters(), [article.headline[:3]])]
    records.warm(str.upper)  # another preparation: the texts are made again with it
    every = records.texts(Filters(), [])
    assert len(every) == len(records.corpus.articles)
    assert all((title, text) == matchable(records.article(a.id), str.upper) for a, title, text in every)


def test_page_counts_agree_with_the_records_read_whole():
    records = _records()
    articles, passages = records.page_counts()
    assert (articles, passages) == Records.page_counts(records)  # the generic reading, article by article
    assert sum(articles.values()) == len(records.corpus.articles) and sum(passages.values()) == len(records.corpus.chunks)
    assert set(articles) == set(records.corpus.pages)
