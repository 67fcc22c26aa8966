"""Normalisation rules, and the exact map from normalised text back to raw offsets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.chunk import split_sentences
from qa.ingest.normalize import normalise, normalise_with_map, normaliser_for

SEEDS = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
PAGES = [p.read_text(encoding="utf-8") for p in SEEDS]

# Characters that exercise every rule: CJK, digits, Latin, all kinds of whitespace and line breaks,
# terminators, quotes and brackets, NFKC expansions (‼ ⁉ ㈠ ⑴ … ¨ with its leading space, ﷺ with
# inner spaces), full-width forms and invisible characters.
TRICKY = list("管城区民政局本报讯记者通讯员文图") + list("0123４５abcXYZ") + [
    " ", "  ", "\n", "\n\n", "\r\n", "\r", "\t", "\u3000", "\xa0", "\u2028", "\x0c",
    "。", "，", ",", "！", "？", "；", "!", "?", ";", ".", ":", "：", "、", "…", "~", "～", "-",
    "“", "”", "‘", "’", "\"", "「", "」", "(", ")", "（", "）", "《", "》",
    "‼", "⁉", "㈠", "⑴", "¨", "ﷺ", "Ａ", "\u200b", "\ufeff", "\x00", "\x07", "e\u0301",
]
tricky_text = st.lists(st.sampled_from(TRICKY), max_size=80).map("".join)


@pytest.mark.parametrize("raw, expected", [
    ("本报讯 12 月 21 日上\n午，管城区", "本报讯12月21日上午,管城区"),  # spaces in dates, a wrapped line, NFKC ，
    ("相 关部门", "相关部门"),
    ("每人演讲时间为 5~8分钟", "每人演讲时间为5~8分钟"),
    ("时间为 5 ~8分钟", "时间为5~8分钟"),
    ("共计 30余人", "共计30余人"),
    ("结合 PPT展示", "结合 PPT展示"),  # CJK next to a Latin word keeps one space
    ("hello\nworld", "hello world"),  # a wrapped line between Latin words becomes a space
    ("a  \t b", "a b"),
    ("  \n 开头和结尾 \n\n ", "开头和结尾"),
    ("第一段。\n\n第二段。", "第一段。\n第二段。"),  # a blank line after a sentence: a paragraph break
    ("他说:“好。”\n\n  \n\n下一段", "他说:“好。”\n下一段"),  # closing quote after the terminator
    ("支部共提升、工作\n\n促发展”的效果", "支部共提升、工作促发展”的效果"),  # OCR gap in mid-sentence
    ("第一行。\n第二行", "第一行。第二行"),  # a single newline only wraps
    ("全角ＡＢＣ１２３！？；", "全角ABC123!?;"),
    ("零\u200b宽", "零宽"),
    ("北下街街道: 挂图作战", "北下街街道:挂图作战"),
    ("把 \"两个行动\"摆上", "把\"两个行动\"摆上"),
    ("", ""),
])
def test_rules(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_nfkc_expansion_maps_to_its_one_raw_character() -> None:
    norm = normalise_with_map("见㈠条")
    assert norm.text == "见(一)条"
    assert [norm.to_raw(i, i + 1) for i in range(len(norm.text))] == [(0, 1), (1, 2), (1, 2), (1, 2), (2, 3)]


def test_to_raw_of_a_joined_gap_and_of_empty_spans() -> None:
    raw = "文字。\n\n下一段"
    norm = normalise_with_map(raw)
    assert norm.text == "文字。\n下一段"
    assert norm.to_raw(3, 4) == (3, 5)  # the paragraph break comes from the blank line
    assert norm.to_raw(0, 0) == (0, 0)
    assert norm.to_raw(len(norm.text), len(norm.text)) == (len(raw), len(raw))
    with pytest.raises(ValueError):
        norm.to_raw(2, 1)


def test_seed_pages_normalise_cleanly() -> None:
    for page in PAGES:
        text = normalise(page)
        assert "\n\n" not in text and "  " not in text and text == text.strip()
        assert "，" not in text and " 月" not in text


def _check_map(raw: str) -> None:
    norm = normalise_with_map(raw)
    assert norm.text == normalise(raw)
    assert len(norm.starts) == len(norm.ends) == len(norm.text)
    assert all(0 <= a < b <= len(raw) for a, b in zip(norm.starts, norm.ends))
    assert list(norm.starts) == sorted(norm.starts)
    sentences = split_sentences(norm.text)
    fold = normaliser_for(raw)
    for i, (a, _) in enumerate(sentences):
        for _, b in sentences[i:i + 3]:  # single sentences and runs of them, as chunks are
            start, end = norm.to_raw(a, b)
            assert normalise(raw[start:end]) == norm.text[a:b]
            assert fold(raw[start:end]) == norm.text[a:b]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_map_on_any_text(raw: str) -> None:
    _check_map(raw)


@settings(max_examples=500, deadline=None)
@given(tricky_text)
def test_map_on_tricky_text(raw: str) -> None:
    _check_map(raw)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(range(len(PAGES))), st.integers(0, 10_000), st.integers(0, 3_000))
def test_map_on_seed_slices(page: int, start: int, length: int) -> None:
    raw = PAGES[page]
    start %= len(raw)
    _check_map(raw[start:start + length])


def test_map_on_whole_seed_pages() -> None:
    for page in PAGES:
        _check_map(page)
