"""Sentence splitting and chunking: exact offsets, sizes, overlap, article bounds, whole quotations."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.chunk import chunk_article, split_sentences
from qa.ingest.documents import Article, Chunk
from qa.ingest.normalize import normalise
from qa.ingest.pages import read_page
from qa.ingest.parse import parse_page

SEEDS = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
PAGES = [(p.name, read_page(p)) for p in SEEDS]
ARTICLES = [(article, raw) for name, raw in PAGES for article in parse_page(name, raw)]


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize("text, expected", [
    ("第一句。第二句!第三句?第四句;", ["第一句。", "第二句!", "第三句?", "第四句;"]),
    ("全角！全角？全角；完", ["全角！", "全角？", "全角；", "完"]),
    ("真的吗?!好。", ["真的吗?!", "好。"]),
    ("第一段没有句号\n第二段", ["第一段没有句号", "第二段"]),
    ("他说:“今天很好。明天也好。”然后走了。", ["他说:“今天很好。明天也好。”", "然后走了。"]),
    ("他说:“今天很好。明天也好”,然后走了。", ["他说:“今天很好。明天也好”,然后走了。"]),
    ('他说"好。"然后走了。', ['他说"好。"', "然后走了。"]),
    ("「走吧。」他说。", ["「走吧。」", "他说。"]),
    ("“走路就到了”。下一句", ["“走路就到了”。", "下一句"]),
    ("外“内‘深。’还在。”完。", ["外“内‘深。’还在。”", "完。"]),
    ("他说“好。然后。", ["他说“好。", "然后。"]),  # an unmatched quote (OCR) does not glue the rest
    ("(括号。)后面", ["(括号。)", "后面"]),
    ("  前后空白。  下一句  ", ["前后空白。", "下一句"]),
    ("", []),
])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def _check_chunks(article: Article, raw: str, chunks: list[Chunk], min_chars: int, max_chars: int,
                  overlap: int) -> None:
    assert [c.id for c in chunks] == [f"{article.id}-c{n:02d}" for n in range(1, len(chunks) + 1)]
    for chunk in chunks:
        assert chunk.article_id == article.id and chunk.page == article.page
        assert article.body_start <= chunk.start < chunk.end <= article.body_end  # never across articles
        assert normalise(raw[chunk.start:chunk.end]) == chunk.text
        assert chunk.text in article.body
        assert chunk.sentences and chunk.sentences[0][0] == 0 and chunk.sentences[-1][1] == len(chunk.text)
        assert all(a < b <= c for (a, b), (c, _) in zip(chunk.sentences, chunk.sentences[1:]))
        # within bounds: over max only for one over-long sentence, and never over twice max
        assert len(chunk.text) <= max_chars or len(chunk.sentences) == 1
        assert len(chunk.text) <= 2 * max_chars
    # every sentence of the body is in exactly one chunk apart from the carried overlap, in order
    fresh = [c.text[a:b] for n, c in enumerate(chunks) for a, b in c.sentences[_carried(chunks, n, raw):]]
    assert "".join("".join(fresh).split()) == "".join(article.body.split())
    for n, (first, second) in enumerate(pairwise(chunks)):
        carried = _carried(chunks, n + 1, raw)
        last = [first.text[a:b] for a, b in first.sentences]
        following = [second.text[a:b] for a, b in second.sentences]
        if carried:
            # the overlap is exactly the last `carried` sentences of the chunk before
            assert 1 <= carried <= overlap and following[:carried] == last[-carried:]
            assert second.start < first.end
        else:
            # no overlap only when even one carried sentence would not fit with the next one
            assert second.start >= first.end
            assert overlap == 0 or len(last) == 1 or len(last[-1]) + len(following[0]) + 1 > max_chars
        # a chunk stops below min only when the next sentence would take it past max
        if len(first.text) < min_chars:
            assert len(first.text) + len(following[carried]) + 1 > max_chars


def _carried(chunks: list[Chunk], n: int, raw: str) -> int:
    """How many leading sentences chunk n repeats from chunk n-1: those within their common raw span."""
    if n == 0 or chunks[n].start >= chunks[n - 1].end:
        return 0
    shared = len(normalise(raw[chunks[n].start:chunks[n - 1].end]))
    return [b for _, b in chunks[n].sentences].index(shared) + 1


def test_seed_chunks() -> None:
    sizes = []
    for article, raw in ARTICLES:
        chunks = chunk_article(article, raw)
        assert chunks, article.id
        _check_chunks(article, raw, chunks, 200, 300, 1)
        sizes += [len(c.text) for c in chunks]
    assert 60 <= len(sizes) and 200 <= sum(sizes) / len(sizes) <= 300


def test_seed_chunks_keep_quotations_whole() -> None:
    for article, raw in ARTICLES:
        for chunk in chunk_article(article, raw):
            for a, b in chunk.sentences:
                sentence = chunk.text[a:b]
                assert sentence.count("“") == sentence.count("”"), sentence
                assert sentence.count('"') % 2 == 0, sentence


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(ARTICLES))), st.integers(20, 300), st.integers(0, 400), st.integers(0, 3))
def test_seed_chunks_for_any_settings(index: int, min_chars: int, extra: int, overlap: int) -> None:
    article, raw = ARTICLES[index]
    max_chars = min_chars + extra
    _check_chunks(article, raw, chunk_article(article, raw, min_chars, max_chars, overlap),
                  min_chars, max_chars, overlap)


def _plain_article(raw: str) -> Article:
    return Article(id="doc", page="doc", headline="", kicker=None, date=None, reporters=(), correspondents=(),
                   body=normalise(raw), body_start=0, body_end=len(raw))


def test_plain_document() -> None:
    raw = " ".join(article.body.replace("\n", "") for article, _ in ARTICLES[:6])
    article = _plain_article(raw)
    chunks = chunk_article(article, raw)
    _check_chunks(article, raw, chunks, 200, 300, 1)


def test_over_long_sentences_are_split_at_commas_then_cut() -> None:
    clauses = [f"第{n:02d}个没有句号的分句" * 3 for n in range(20)]  # 36 characters each, all different
    raw = "开头一句。" + ",".join(clauses) + "。" + "字" * 1000 + "。结尾。"
    article = _plain_article(raw)
    chunks = chunk_article(article, raw)
    _check_chunks(article, raw, chunks, 200, 300, 1)
    assert max(len(c.text) for c in chunks) <= 300


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(1, 80), st.integers(0, 2))
def test_any_text_as_a_plain_document(raw: str, max_chars: int, overlap: int) -> None:
    article = _plain_article(raw)
    chunks = chunk_article(article, raw, max_chars // 2, max_chars, overlap)
    assert bool(chunks) == bool(article.body)
    for chunk in chunks:
        assert normalise(raw[chunk.start:chunk.end]) == chunk.text
        assert len(chunk.text) <= 2 * max_chars or len(chunk.sentences) == 1


def test_chunking_is_fast() -> None:
    pages = [(f"{n:03d}_{name}", raw) for n in range(30) for name, raw in PAGES]  # ~450k characters
    assert sum(len(raw) for _, raw in pages) > 400_000
    started = time.perf_counter()
    count = sum(len(chunk_article(a, raw)) for name, raw in pages for a in parse_page(name, raw))
    assert count > 1000
    assert time.perf_counter() - started < 5  # about 0.7 s here; generous for slow CI machines
