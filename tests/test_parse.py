"""Page parsing against the hand-written fixture; fallback, robustness and reading page files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.errors import UnreadablePage
from qa.normalize import normalise
from qa.parse import parse_page, read_page

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
EXPECTED = json.loads((Path(__file__).parent / "fixtures" / "articles.json").read_text(encoding="utf-8"))["pages"]
SEED_LINES = [line for path in SEEDS for line in path.read_text(encoding="utf-8").splitlines()]


def _parsed(path: Path):
    return parse_page(path.name, read_page(path))


def test_fixture_covers_every_seed_page() -> None:
    assert sorted(EXPECTED) == [p.name for p in SEEDS]


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_articles_match_the_hand_written_fixture(path: Path) -> None:
    articles = _parsed(path)
    expected = EXPECTED[path.name]
    assert [a.headline for a in articles] == [normalise(e["headline"]) for e in expected]
    for article, want in zip(articles, expected, strict=True):
        assert article.kicker == (normalise(want["kicker"]) if want["kicker"] else None), article.id
        assert article.body[:10] == want["body_start"], article.id
        assert article.date == want["date"], article.id
        assert list(article.reporters) == want["reporters"], article.id
        assert list(article.correspondents) == want["correspondents"], article.id


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_ids_offsets_and_bodies(path: Path) -> None:
    raw = read_page(path)
    articles = parse_page(path.name, raw)
    assert [a.id for a in articles] == [f"{path.stem}-a{n:02d}" for n in range(1, len(articles) + 1)]
    previous_end = 0
    for article in articles:
        assert article.page == path.name
        assert previous_end <= article.body_start < article.body_end <= len(raw)
        assert normalise(raw[article.body_start:article.body_end]) == article.body
        assert not article.body.startswith(article.headline)  # header lines are not body
        previous_end = article.body_end


def test_bylines_on_their_own_lines_are_not_body() -> None:
    first, second = _parsed(SEEDS[0])[:2]
    assert first.body.endswith("维护好群众根本利益。")
    assert second.body.endswith("确保高质量完成年度各项目标任务。")  # two-line byline, "文/图" not a name


def test_page_banner_is_not_an_article() -> None:
    articles = _parsed(SEEDS[0])
    banner = normalise(SEEDS[0].read_text(encoding="utf-8").splitlines()[0])
    assert all(banner not in a.body and a.headline != banner and a.kicker != banner for a in articles)


def test_byline_inside_the_lead_stays_in_the_body_and_names_are_extracted() -> None:
    intro = _parsed(SEEDS[4])[0]
    assert intro.body.endswith("记者张改华通讯员闫晓栋魏少杰文/图")
    assert intro.reporters == ("张改华",) and intro.correspondents == ("闫晓栋", "魏少杰")


def test_sections_without_byline_take_the_covering_one() -> None:
    for article in _parsed(SEEDS[4])[1:]:
        assert article.reporters == ("张改华",)
        assert any("byline taken from" in w for w in article.warnings)


def test_a_short_fragment_inside_a_news_item_is_not_a_headline() -> None:
    # 002: "此次活动旨在全面推进……服务公" is short and unpunctuated, but the 本报讯 item above has no
    # byline yet, so it is the first half of a sentence broken by the OCR, not a new article.
    article = _parsed(SEEDS[2])[3]
    assert "服务公开、结果公开" in article.body
    assert article.correspondents == ("刘博闻",)


def test_page_without_structure_is_one_article_with_a_warning() -> None:
    raw = "这是一段没有标题的文字,它只有正文。没有本报讯,也没有署名。\n\n第二段也是正文,仍然没有标题。\n"
    [article] = parse_page("plain.txt", raw)
    assert article.id == "plain-a01" and article.page == "plain.txt"
    assert article.headline == normalise(raw.splitlines()[0])[:48]
    assert article.body == normalise(raw)
    assert article.warnings and "no article structure" in article.warnings[0]


def test_blank_page_has_no_articles() -> None:
    assert parse_page("empty.txt", "") == []
    assert parse_page("blank.txt", " \n\u3000\n\u200b\n") == []


def _check_page(raw: str) -> None:
    articles = parse_page("dir/x.txt", raw)
    assert [a.id for a in articles] == [f"x-a{n:02d}" for n in range(1, len(articles) + 1)]
    for article in articles:
        assert 0 <= article.body_start < article.body_end <= len(raw)
        assert article.body and normalise(raw[article.body_start:article.body_end]) == article.body
        assert article.page == "x.txt"
    if normalise(raw):
        assert articles  # visible text is never lost entirely


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(raw: str) -> None:
    _check_page(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SEED_LINES), st.sampled_from(["", "", " ", "■相关新闻", "记者 张三"]),
                          st.text(max_size=20)), max_size=40),
       st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_parse_never_raises_on_shuffled_page_lines(lines: list[str], newline: str) -> None:
    _check_page(newline.join(lines))


def test_read_page_utf8_and_bom(tmp_path: Path) -> None:
    text = SEEDS[0].read_text(encoding="utf-8")
    assert read_page(SEEDS[0]) == text
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_page(bom) == text


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_read_page_gbk_copy(tmp_path: Path, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    copy = tmp_path / path.name
    copy.write_bytes(text.encode("gbk"))
    assert read_page(copy) == text
    assert parse_page(copy.name, read_page(copy)) == _parsed(path)


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 4,  # NUL bytes
    b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)),  # no NUL, but no text encoding decodes it
    b"\x01\x02\x03\x04\x05\x06\x07\x08 plain ascii with control bytes \x10\x11\x12\x13\x14",
    "正常的文字".encode() + "\ufffd".encode() * 10,  # replacement characters: mangled already
], ids=["nul", "undecodable", "control", "replacement"])
def test_read_page_refuses_binary(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(data)
    with pytest.raises(UnreadablePage, match="page.txt"):
        read_page(path)


def test_read_page_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert read_page(path) == ""
    assert parse_page(path.name, read_page(path)) == []
