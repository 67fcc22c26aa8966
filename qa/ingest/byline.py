"""Bylines: the reporters, correspondents and photographers a 记者 …… 通讯员 …… 摄 credit names."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

# A role opens a list of names: 记者 and 实习生 report, 通讯员 correspond, 摄影 (记者) photographs.
_ROLE = re.compile(r"(?:本报|特约|首席|见习|实习|全媒体|融媒体|摄影){0,2}(?:记者|通讯员|实习生|摄影)")
# A credit closes a list of names; only 摄 and a trailing 摄影 say who took the pictures.
_CREDIT = re.compile(r"(?:文\s*/\s*图|图\s*/\s*文|文图|图文|摄影|摄|文|图)(?=[\s、,:]|$)")
_SEPARATORS = " \t、,:"
_DOTS = "·•・‧"  # between the parts of a transcribed name: 买买提·艾力
_HAN = re.compile(r"[\u3400-\u9fff]")
# With one of these a name runs to 5-6 characters without being unusual: 欧阳春晓, 司马相如.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 司空 夏侯 轩辕 令狐 钟离 端木 西门 南宫 "
    "独孤 澹台 万俟 闻人 赫连 呼延 申屠 百里 东郭 太史 公冶 拓跋 完颜 单于 即墨 淳于 濮阳 公羊 左丘".split())
_SENTENCE_CLOSERS = "。!?”’\"」』)"  # what ends the sentence a byline may be run into
_LEAD_BYLINE = re.compile(r"^本报[^\s(]{0,12}?讯\s*\(([^()]+)\)")


@dataclass(frozen=True)
class Names:
    """The people of one or more bylines, each listed once, in the order printed."""

    reporters: tuple[str, ...] = ()
    correspondents: tuple[str, ...] = ()
    photographers: tuple[str, ...] = ()
    unusual: tuple[str, ...] = ()  # names read although their length is unusual for a name

    def __add__(self, other: Names) -> Names:
        return Names(*(_unique(getattr(self, f.name) + getattr(other, f.name)) for f in fields(self)))

    def __bool__(self) -> bool:
        return bool(self.reporters or self.correspondents or self.photographers)


@dataclass
class _Segment:
    role: str
    names: list[str]
    photographed: bool = False  # closed by 摄 / 摄影


def read(text: str) -> Names | None:
    """The people of a byline, or None when the text is not wholly a byline.

    A byline is roles each followed by names (记者 冉红政 通讯员 黄帅), optionally closed by a credit
    (文/图, 摄). Names are 2-4 Han characters, up to 6 after a compound surname, 5-6 otherwise only
    between separators (then listed as unusual), or parts joined by a dot (阿依古丽·买买提).
    """
    if not text or text[-1] in _SEPARATORS or text[0] in _SEPARATORS:
        return None  # "通讯员张三说," is text wrapped mid-sentence
    segments: list[_Segment] = []
    unusual: list[str] = []
    pos = 0
    while pos < len(text):
        role = _ROLE.match(text, pos)
        credit = _CREDIT.match(text, pos)
        closing = bool(role) and role.group() == "摄影" and _skip(text, role.end()) == len(text)  # 记者 张三 摄影
        if role and not (closing and segments):
            segments.append(_Segment(role.group(), []))
            pos = _skip(text, role.end())
        elif credit and segments and segments[-1].names:
            segments[-1].photographed |= "摄" in credit.group()
            pos = _skip(text, credit.end())
        elif segments:
            end = _name_end(text, pos)
            length = _name_length(text, pos, end)
            if length is None:
                return None
            if length == "unusual":
                unusual.append(text[pos:end])
            segments[-1].names.append(text[pos:end])
            pos = _skip(text, end)
        else:
            return None
    if not segments or not all(s.names for s in segments):
        return None
    return _names(segments, tuple(unusual))


def tail_start(text: str) -> int | None:
    """Where a byline run into the end of a paragraph starts ("……深入。记者 张改华 文/图"), if one is."""
    cut = max(text.rfind(ch) for ch in _SENTENCE_CLOSERS)
    start = _skip(text, cut + 1, " \t") if cut >= 0 else len(text)
    return start if start < len(text) and read(text[start:].rstrip()) else None


def lead_span(text: str) -> tuple[int, int] | None:
    """Where a byline in parentheses after 本报讯 sits ("本报讯(记者 张三)12月20日,……"), if one does."""
    match = _LEAD_BYLINE.match(text)
    if not match or not read(match.group(1).strip()):
        return None
    inner = match.group(1)
    start = match.start(1) + len(inner) - len(inner.lstrip())
    return start, match.end(1) - (len(inner) - len(inner.rstrip()))


def _skip(text: str, pos: int, chars: str = _SEPARATORS) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _name_end(text: str, pos: int) -> int:
    """The end of the name starting at pos: Han characters (and dots between them) up to a role or separator."""
    end = pos
    while end < len(text) and (_HAN.match(text[end]) or (
            text[end] in _DOTS and end > pos and end + 1 < len(text) and _HAN.match(text[end + 1]))):
        if end > pos and _ROLE.match(text, end):
            break
        end += 1
    rest = text[end:].lstrip()
    if end - pos > 2 and text[end - 1] in "文图" and rest.startswith("/"):
        end -= 1  # "黄帅文/图": the credit is glued to the name
    elif end - pos > 2 and text[end - 1] == "摄" and (not rest or rest[0] in _SEPARATORS):
        end -= 1  # "张三摄": a photo credit glued to the name
    return end


def _name_length(text: str, pos: int, end: int) -> str | None:
    """ "usual" or "unusual" for a name text[pos:end], None when that cannot be a name."""
    name = text[pos:end]
    if any(dot in name for dot in _DOTS):
        return "usual" if len(name) <= 16 else None
    right = end == len(text) or text[end] in _SEPARATORS or bool(_ROLE.match(text, end))
    if 2 <= len(name) <= 4:
        return "usual"
    if len(name) > 6 or not right:
        return None
    if name[:2] in COMPOUND_SURNAMES:
        return "usual"
    return "unusual" if pos > 0 and text[pos - 1] in _SEPARATORS and len(name) >= 5 else None


def _names(segments: list[_Segment], unusual: tuple[str, ...]) -> Names:
    reporters: list[str] = []
    correspondents: list[str] = []
    photographers: list[str] = []
    for segment in segments:
        if "通讯员" in segment.role:
            correspondents.extend(segment.names)
        elif "摄影" in segment.role:
            photographers.extend(segment.names)
        else:
            reporters.extend(segment.names)
        if segment.photographed:
            photographers.extend(segment.names)
    return Names(_unique(tuple(reporters)), _unique(tuple(correspondents)), _unique(tuple(photographers)), unusual)


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
