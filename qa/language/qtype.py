"""Expected answer types of a question, and the spans of each type found in a sentence."""

from __future__ import annotations

import re
from collections.abc import Callable

from qa.language.lexicon import PERSON_TAGS, PLACE_ENDINGS, PLACE_TAGS

NUMBER, DATE, PERSON, PLACE = "number", "date", "person", "place"
TYPES = (NUMBER, DATE, PERSON, PLACE)

# Order matters: "几月几日" asks for a date before "几" asks for a number.
_QUESTION_PATTERNS = [
    (DATE, re.compile(r"什么时候|何时|哪一?天|哪一?年|哪个月|几月|几号|几日|日期|时间是|什么时间|哪个时期|哪个朝代|年代")),
    (PERSON, re.compile(r"谁|哪位|什么人|何人|叫什么名字|姓名|由哪个人")),
    (PLACE, re.compile(r"哪里|哪儿|什么地方|何地|何处|在哪|哪个(?:国家|城市|省|县|区|村|社区|街道|地区|单位|部门|机构|组织|公司|学校)|哪座|哪家")),
    (NUMBER, re.compile(r"多少|几|多大|多长|多久|多高|多远|多重|多深|多宽|多少岁|多少钱|第几|百分之")),
]

_CN_NUM = "零〇一二两三四五六七八九十百千万亿"
_NUMBER = re.compile(
    rf"(?:\d[\d,.]*|[{_CN_NUM}]+)(?:余|多)?(?:万|亿)?"
    r"(?:平方米|平方公里|公里|千米|厘米|毫米|米|千克|公斤|克|吨|元|块|岁|人次|名|人|个|家|户|间|处|条|份|册|面|场|次|件|项|所|座|栋|辆|台|张|本|篇|部|位|支|批|棵|株|只|头|天|年|月|周|小时|分钟|秒|倍|%|％|层|届|期|公顷|亩|米)"
)
_DATE = re.compile(
    rf"(?:(?:\d{{1,4}}|[{_CN_NUM}]{{2,4}})年)?(?:\d{{1,2}}|[{_CN_NUM}]{{1,3}})月(?:(?:\d{{1,2}}|[{_CN_NUM}]{{1,3}})[日号])?(?:上午|下午|晚上|晚)?"
    rf"|(?:\d{{1,4}}|[{_CN_NUM}]{{2,4}})年(?:代)?|(?:\d{{1,2}}|[{_CN_NUM}]{{1,3}})世纪(?:\d+年代)?|近日|今年|去年|明年"
)
_PLACE_SUFFIX = re.compile(f"(?:{'|'.join(PLACE_ENDINGS)})$")


def question_type(question: str) -> str | None:
    """The answer type a question asks for, or None for 'what/how' questions answered by a sentence."""
    for answer_type, pattern in _QUESTION_PATTERNS:
        if pattern.search(question):
            return answer_type
    return None


def type_spans(sentence: str, answer_type: str,
               tagged: Callable[[str], list[tuple[str, str]]]) -> list[tuple[int, int]]:
    """(start, end) offsets in `sentence` of every candidate answer of `answer_type`.

    `tagged` is a POS tagger (qa.language.tokenize.Tokenizer.tagged); it runs only for person/place.
    """
    if answer_type == NUMBER:
        return [m.span() for m in _NUMBER.finditer(sentence) if not _DATE.fullmatch(m.group())]
    if answer_type == DATE:
        return [m.span() for m in _DATE.finditer(sentence)]
    spans, pos = [], 0
    for word, flag in tagged(sentence):
        start = sentence.find(word, pos)
        if start < 0:
            continue
        pos = start + len(word)
        if answer_type == PERSON and flag in PERSON_TAGS and len(word) >= 2:
            spans.append((start, pos))
        elif answer_type == PLACE and (flag in PLACE_TAGS or _PLACE_SUFFIX.search(word)) and len(word) >= 2:
            spans.append((start, pos))
    return _merge_adjacent(spans) if answer_type == PLACE else spans


def _merge_adjacent(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join touching place words: 郑州 + 滨河公园 is one place."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
