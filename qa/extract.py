"""Short answers: the span of a sentence that fills the gap the question's interrogative leaves."""

from __future__ import annotations

import re
from collections.abc import Callable

from qa.qtype import DATE, NUMBER, type_spans

# The interrogative phrase of a question (with the measure word or noun glued to it, e.g. 多少面, 哪个社区).
_WH = re.compile(
    r"什么时候|什么地方|什么样的?|什么|哪里|哪儿|哪一?(?:个|些|位|家|种|天|年|月|座|条|所|项)?|谁|多少|几|多大|多长|多久"
    r"|何时|何地|何处|如何|怎样|怎么"
)
# Interrogatives that ask "which/how many X": the X glued after them is part of the answer.
_DETERMINER = re.compile(r"(?:哪一?个?|哪些|什么|多少|几)$")
# Where an answer span stops when only one side of the gap is found in the sentence.
_DELIMITER = re.compile(r"[,，。!！?？;；:：、()（）\s]|(?<=[由在到赴于向从与和及为对就])")
# For 哪些/什么 the answer may be a list: 、 does not end it.
_LIST_DELIMITER = re.compile(r"[,，。!！?？;；:：()（）\s]|(?<=[由在到赴于向从与和及为对就])")
_MAX_GAP = 24
_MAX_LIST = 80  # 哪些 questions: a list of items
_CONTEXT = 4  # characters of question context tried on each side of the gap
_WRONG_SIDE = 8  # characters a typed answer counts as further away on the unexpected side of a question word


def gap_span(question: str, sentence: str, tagged: Callable[[str], list[tuple[str, str]]]) -> tuple[int, int] | None:
    """Align the question around its interrogative with the sentence; the unmatched middle is the answer.

    E.g. 活动在什么地方拉开帷幕 vs 活动在商都遗址城墙下拉开帷幕 -> 商都遗址城墙下. When only the right
    (or left) context is found, the span runs to the nearest delimiter on the other side. A noun or
    measure word glued to the interrogative (哪个社区, 多少名同志) belongs to the answer when the
    sentence repeats it right after the gap (前进南社区, 30名同志). Of several alignments the one
    whose gap holds a noun or number wins, then the shortest.
    """
    wh = _WH.search(question)
    if not wh:
        return None
    left = _clean(question[: wh.start()])[-_CONTEXT:]
    after = _clean(question[wh.end():])
    head = _head_noun(after, tagged) if _DETERMINER.search(wh.group()) else ""
    plural = wh.group() in ("哪些", "什么")
    rights = [after[i : i + _CONTEXT] for i in range(len(head) + 1) if len(after[i : i + _CONTEXT]) >= 1]
    candidates = []
    for l_end in _suffix_ends(sentence, left) or [None]:
        r_at = next(filter(None, (_find_prefix(sentence, r, start=l_end or 0) for r in rights)), None)
        if l_end is None and r_at is None:
            continue
        start = l_end if l_end is not None else _delimiter_before(sentence, r_at[0], plural)
        end = r_at[0] if r_at is not None else _delimiter_after(sentence, l_end, plural)
        start, end = _strip(sentence, start, end)
        if not 0 < end - start <= (_MAX_LIST if plural else _MAX_GAP):
            continue
        nominal = _has_noun(sentence[start:end], tagged)
        if head and sentence.startswith(head, end):
            end += len(head)
        candidates.append((not nominal, end - start, start, end))
    return min(candidates)[2:] if candidates else None


def _has_noun(text: str, tagged) -> bool:
    return any(flag[0] in "nm" or flag == "eng" for _, flag in tagged(text))


def _head_noun(after: str, tagged) -> str:
    """Leading measure words and nouns of the question right after its interrogative."""
    head = ""
    for word, flag in tagged(after[:6]):
        if flag[0] not in "nqm" or flag == "nr" or word in ("的", "了", "是"):
            break
        head += word
    return head


def short_answer(question: str, kind: str | None, sentence: str, tagged: Callable[[str], list[tuple[str, str]]],
                 anchors: list[tuple[str, int, float]]) -> tuple[int, int] | None:
    """The short answer span in `sentence`: the aligned gap (checked against the asked type), else the
    candidate of the asked type nearest to the question's words, else None (the sentence is the answer).

    `anchors` are (word, offset in the sentence, IDF) of the question's words. Nearness keeps the
    question's word order (a word before the interrogative is looked for before the answer) and counts
    a rare word as nearer: in 拆除12间560平方米,清除菜地5处,铲除“牛皮癣”2000多个, "“牛皮癣”清除了多少"
    is 2000多个."""
    gap = gap_span(question, sentence, tagged)
    typed = [s for s in type_spans(sentence, kind, tagged) if sentence[s[0]:s[1]] not in question] if kind else []
    if gap and (not kind or kind not in (NUMBER, DATE) or any(gap[0] <= a and b <= gap[1] for a, b in typed)):
        return gap
    if not typed:
        return None
    if not anchors:
        return typed[0]
    wh = _WH.search(question)
    asked_at = wh.start() if wh else len(question)
    placed = [(at, at + len(word), w, 0 <= question.find(word) < asked_at) for word, at, w in anchors]
    return min(typed, key=lambda s: min(_distance(s, *anchor) for anchor in placed))


def _distance(span: tuple[int, int], start: int, end: int, weight: float, before: bool) -> float:
    """Characters between a span and a question word (plus one), more when the span is on the side of the
    word that the question's word order does not put it on; divided by the word's weight."""
    after_word = span[0] >= end
    gap = max(start - span[1], span[0] - end, 0) + 1 + (0 if after_word == before else _WRONG_SIDE)
    return gap / max(weight, 1e-6)


def _clean(text: str) -> str:
    return re.sub(r"[\W_]+", "", text)


def _find_prefix(sentence: str, context: str, start: int = 0) -> tuple[int, int] | None:
    """The longest prefix (>= 2 chars unless the context is 1 char) of `context` found from `start` on."""
    for n in range(len(context), 0, -1):
        at = sentence.find(context[:n], start)
        if at >= 0 and (n >= 2 or len(context) == 1):
            return at, at + n
    return None


def _suffix_ends(sentence: str, context: str) -> list[int]:
    """End offsets of every occurrence of the longest suffix (>= 2 chars) of `context` in the sentence."""
    for n in range(len(context), 1, -1):
        ends = [m.end() for m in re.finditer(re.escape(context[-n:]), sentence)]
        if ends:
            return ends
    return []


def _delimiter_before(sentence: str, end: int, plural: bool) -> int:
    pattern = _LIST_DELIMITER if plural else _DELIMITER
    starts = [m.end() for m in pattern.finditer(sentence, 0, end) if m.end() < end]
    return max(starts, default=0)


def _delimiter_after(sentence: str, start: int, plural: bool) -> int:
    pattern = _LIST_DELIMITER if plural else _DELIMITER
    m = pattern.search(sentence, start + 1)
    return m.start() if m else len(sentence)


def _strip(sentence: str, start: int, end: int) -> tuple[int, int]:
    while start < end and not (sentence[start].isalnum()):
        start += 1
    while end > start and not (sentence[end - 1].isalnum()):
        end -= 1
    return start, end
