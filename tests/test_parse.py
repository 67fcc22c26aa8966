"""Page parsing against the hand-written fixture; fallback, robustness and reading page files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.errors import UnreadablePage
from qa.ingest import byline
from qa.ingest.normalize import normalise
from qa.ingest.pages import read_page
from qa.ingest.parse import parse_page

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
EXPECTED = json.loads((Path(__file__).parent / "fixtures" / "articles.json").read_text(encoding="utf-8"))["pages"]
PAGES = Path(__file__).parent / "fixtures" / "pages"  # crafted pages, one per thing the seeds do not show
SEED_LINES = [line for path in SEEDS for line in path.read_text(encoding="utf-8").splitlines()]
PAGE_LINES = [line for path in sorted(PAGES.glob("*.txt")) for line in path.read_text(encoding="utf-8").splitlines()]


def _parsed(path: Path):
    return parse_page(path.name, read_page(path))


def _page(name: str):
    raw = read_page(PAGES / name)
    return raw, parse_page(name, raw)


def _printed(raw: str, span: tuple[int, int]) -> str:
    return normalise(raw[span[0]:span[1]])


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


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_spans_locate_headline_kicker_date_and_bylines_in_the_page_file(path: Path) -> None:
    raw = read_page(path)
    for article in parse_page(path.name, raw):
        assert _printed(raw, article.headline_span) == article.headline
        assert article.headline_span[1] <= article.body_start
        if article.kicker:
            assert _printed(raw, article.kicker_span) == article.kicker
        else:
            assert article.kicker_span is None
        if article.reporters:
            printed = "".join(_printed(raw, span) for span in article.byline_spans)
            assert all(name in printed for name in article.reporters + article.correspondents), article.id
        if article.date:
            assert _printed(raw, article.date_span) == article.date
            assert article.day == "--{:02d}-{:02d}".format(*map(int, re.findall(r"\d+", article.date)))  # no year
        else:
            assert article.day is None and article.date_span is None
        assert article.photographers == ()


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


def test_page_without_structure_is_one_article_per_block_with_a_warning() -> None:
    raw = "这是一段没有标题的文字,它只有正文。没有本报讯,也没有署名。\n\n第二段也是正文,仍然没有标题。\n"
    first, second = parse_page("plain.txt", raw)
    assert [first.id, second.id] == ["plain-a01", "plain-a02"] and first.page == "plain.txt"
    assert first.headline == normalise(raw.splitlines()[0])[:48]
    assert first.body + "\n" + second.body == normalise(raw)  # no text lost, first lines included
    assert all(a.warnings and "no article structure" in a.warnings[0] for a in (first, second))


def test_plain_text_is_one_article_per_block_and_loses_no_text() -> None:
    raw, articles = _page("plain_text.txt")
    assert len(articles) == 4
    assert "\n".join(a.body for a in articles) == normalise(raw)
    assert articles[0].headline == normalise(raw.splitlines()[0])[:48]
    for article in articles:
        assert article.body.startswith(article.headline) and len(article.headline) <= 48
        assert _printed(raw, article.headline_span) == article.headline
        assert "no article structure" in article.warnings[0]
    assert articles[3].date == "2021-12-23" and articles[3].day == "2021-12-23"


def test_headlines_with_commas_stand_where_a_body_confirms_them() -> None:
    raw, articles = _page("comma_headlines.txt")
    assert [(a.kicker, a.headline) for a in articles] == [
        ("管城区委组织部", "抓党建,促发展"), (None, "以党建促发展,以发展强党建"),
        ("凝心聚力,砥砺前行", "管城区召开年度工作总结会")]
    first, second, third = articles
    # lone comma lines that are pieces of wrapped sentences stay text: inside a news item, and after a
    # finished paragraph of a feature
    assert "发展动能,送相关党建书籍,并希望各社区持续发力" in first.body
    assert "帮助群众解决实际困难。\n出实招用实劲,扎实推进城乡接合部" in second.body
    assert second.warnings == ("headline guessed: a short line with commas above a body",)  # no 本报讯 lead
    assert not first.warnings and not third.warnings
    assert (second.reporters, second.correspondents) == (("冉红政",), ("田超",))
    assert [_printed(raw, a.headline_span) for a in articles] == [a.headline for a in articles]
    assert [_printed(raw, a.kicker_span) for a in (first, third)] == [first.kicker, third.kicker]


def test_headline_printed_against_its_body_without_a_blank_line() -> None:
    raw, articles = _page("joined_headlines.txt")
    assert [(a.kicker, a.headline) for a in articles] == [
        ("南关街街道", "加快由“虚”转“实”步伐"), (None, "管城区召开安全生产工作会"),
        ("紫荆山街道", "社区图书馆新馆开放"), (None, "二七区开展冬季消防演练")]
    assert articles[0].body.endswith("会议总结回顾2021年工作亮点。")  # the next headline is not its text
    assert articles[1].body.startswith("本报讯12月22日上午")
    assert articles[2].body.startswith("11月20日上午") and articles[3].body.startswith("12月18日上午")
    assert "消防救援人员现场讲解了灭火器" in articles[3].body  # short column-wrapped lines stay text
    assert not articles[0].warnings and not articles[1].warnings  # a 本报讯 lead confirms these
    assert all("headline guessed" in a.warnings[0] for a in articles[2:])
    assert _printed(raw, articles[2].kicker_span) == "紫荆山街道"
    assert _printed(raw, articles[2].headline_span) == "社区图书馆新馆开放"


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_seeds_without_blank_lines_give_the_same_articles(path: Path) -> None:
    # every headline then stands against the text above and its body below (only paragraph breaks go)
    def fields(raw: str) -> list[tuple]:
        return [(a.headline, a.kicker, a.date, a.reporters, a.correspondents, a.body.replace("\n", ""))
                for a in parse_page(path.name, raw)]

    raw = read_page(path)
    assert fields(re.sub(r"\n\s*\n", "\n", raw)) == fields(raw)


def test_dates_in_every_printed_form_and_the_page_header_date() -> None:
    raw, articles = _page("dates.txt")
    assert [(a.date, a.day) for a in articles] == [
        ("12月20日", "2021-12-20"), ("2021年12月21日", "2021-12-21"), ("2021年12月23日", "2021-12-23"),
        ("2021-12-22", "2021-12-22"), ("2021.12.19", "2021-12-19"), ("2021/12/18", "2021-12-18")]
    assert all(_printed(raw, a.date_span) == a.date for a in articles)
    assert articles[0].warnings == ("year of 12月20日 taken from the page header's 2021年12月23日",)
    assert articles[2].warnings == ("no date in the lead: dated by the page header's 2021年12月23日",)
    assert articles[2].date_span[1] < raw.index("\n")  # the page header line
    assert not any(a.warnings for a in articles[3:]) and not articles[1].warnings
    assert articles[0].kicker == "管城区民政局"  # the banner lines are neither kicker nor article
    assert not any("第3版" in a.body or "责任编辑" in a.body for a in articles)


def test_dates_in_chinese_numerals_and_lettered_page_labels() -> None:
    """十二月二十日 and 二〇二一年十二月二十一日 are dates; a banner with A3版 (or a 第A03版 footer) is no article."""
    raw, articles = _page("chinese_dates.txt")
    assert [(a.date, a.day) for a in articles] == [("十二月二十日", "2021-12-20"), ("二〇二一年十二月二十一日", "2021-12-21")]
    assert all(_printed(raw, a.date_span) == a.date for a in articles)
    assert articles[0].kicker == "管城区民政局" and articles[0].headline == "手拉手结对共建促发展"
    assert not any("A3版" in a.body or "A03" in a.body or "责任编辑" in a.body for a in articles)


def test_a_date_without_year_takes_its_year_from_the_page_dateline() -> None:
    raw, (last_year, coming) = _page("dates_new_year.txt")  # dated by a lone 2022年1月3日 line
    assert (last_year.kicker, last_year.headline) == (None, "管城区召开岁末年初安全生产工作会")
    assert (last_year.date, last_year.day) == ("12月30日", "2021-12-30")  # a January page reports last December
    assert (coming.date, coming.day) == ("1月5日", "2022-01-05")  # ... and an event announced for next week
    assert all("taken from the page header's 2022年1月3日" in a.warnings[0] for a in (last_year, coming))
    assert _printed(raw, coming.date_span) == "1月5日"


def test_compound_surnames_and_dotted_names() -> None:
    raw, articles = _page("names.txt")
    assert [(a.reporters, a.correspondents) for a in articles] == [
        (("欧阳春晓",), ("买买提·艾力",)),
        (("司马南", "上官云飞"), ("阿依古丽·买买提", "热依拉•吐尔逊")),
        (("欧阳春晓明",), ("诸葛青",)),
        (("韩娟",), ("阿不都热合曼",))]
    assert not any(a.warnings for a in articles[:3])
    assert articles[3].warnings == ("name of unusual length: 阿不都热合曼",)
    # a byline run into the paragraph: its span is the tail, the body keeps it
    assert [_printed(raw, s) for s in articles[2].byline_spans] == ["记者欧阳春晓明通讯员诸葛青"]
    assert articles[2].body.endswith("座谈会。记者欧阳春晓明通讯员诸葛青")


def test_several_reporters_trainees_and_photographers() -> None:
    raw, (first, second, third) = _page("bylines.txt")
    assert (first.reporters, first.correspondents) == (("冉红政",), ("黄帅",))  # in parentheses after 本报讯
    assert [_printed(raw, s) for s in first.byline_spans] == ["记者冉红政通讯员黄帅"]
    assert second.reporters == ("柴琳琳", "韩娟", "王小明", "张改华")  # 本报记者, 实习生 and a 记者 who photographed
    assert second.photographers == ("张改华",)
    assert [_printed(raw, s) for s in second.byline_spans] == ["本报记者柴琳琳韩娟实习生王小明", "记者张改华摄"]
    assert second.body.endswith("理发等服务。")
    assert third.correspondents == ("李文博", "刘浩森") and third.photographers == ("杜一鸣",)
    assert not any(a.warnings for a in (first, second, third))


@pytest.mark.parametrize(("text", "names"), [
    ("本报摄影记者 钱一 摄", ((), (), ("钱一",))),
    ("记者:张三、李四 文/图", (("张三", "李四"), (), ())),
    ("记者 李宏图", (("李宏图",), (), ())),  # a name ending in 图 is not a credit
    ("见习记者 文静 通讯员 图门", (("文静",), ("图门",), ())),
    ("记者 张三 摄影", (("张三",), (), ("张三",))),
    ("特约通讯员 司马相如明", ((), ("司马相如明",), ())),
])
def test_byline_forms(text: str, names: tuple) -> None:
    found = byline.read(text)
    assert (found.reporters, found.correspondents, found.photographers) == names and not found.unusual


@pytest.mark.parametrize("text", ["记者了解到的情况", "通讯员张三说,", "记者 张三李四王五赵六", "摄 张三"])
def test_not_bylines(text: str) -> None:
    assert byline.read(text) is None


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
        for text, span in ((article.headline, article.headline_span), (article.kicker, article.kicker_span),
                           (article.date, article.date_span)):
            assert span is None or normalise(raw[span[0]:span[1]]) == text
        assert all(0 <= a < b <= len(raw) for a, b in article.byline_spans)
        assert article.day is None or re.fullmatch(r"(?:\d{4}|-)-\d\d-\d\d", article.day)
    if normalise(raw):
        assert articles  # visible text is never lost entirely


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(raw: str) -> None:
    _check_page(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SEED_LINES + PAGE_LINES),
                          st.sampled_from(["", "", " ", "■相关新闻", "记者 张三"]), st.text(max_size=20)), max_size=40),
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
