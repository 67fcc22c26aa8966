"""Text normalisation (NFKC, line joining, CJK spacing) with an exact map back to raw offsets."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Sentence terminators, before and after NFKC (NFKC turns ！？； into !?;).
TERMINATORS = frozenset("。!?;！？；")
# Closing quotes and brackets that may follow a terminator and still belong to its sentence.
# The ASCII '"' is not here: it opens as often as it closes, so it cannot be judged locally.
CLOSERS = frozenset("”’」』)）》〉】〕]")
# A blank line after one of these is a real paragraph break; after anything else it is an OCR gap.
PARA_END = TERMINATORS | frozenset(".:：…")
# Range marks that glue to a neighbouring digit: "5 ~8" -> "5~8".
_RANGE_MARKS = frozenset("~-–—〜")

LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_WS_RUN = re.compile(r"\s+")
# Characters NFKC may change: all but printable ASCII, tab/newline/CR, CJK ideographs and the common
# CJK marks 、。“”‘’〈〉《》「」『』【】, which are stable. Only these are looked up one by one.
_MAYBE_CHANGED = re.compile(
    r"[^\t\n\r\x20-\x7e\u3400-\u4dbf\u4e00-\u9fff\u3001\u3002\u2018\u2019\u201c\u201d\u3008-\u3011]")


@dataclass(frozen=True)
class Normalised:
    """Normalised text and, per normalised character, the raw span [starts[i], ends[i]) that produced it."""

    text: str
    starts: Sequence[int]
    ends: Sequence[int]

    def to_raw(self, a: int, b: int) -> tuple[int, int]:
        """The raw span that produced text[a:b] (whole raw characters, so it may cover a little more)."""
        if not 0 <= a <= b <= len(self.text):
            raise ValueError(f"span ({a}, {b}) outside normalised text of length {len(self.text)}")
        if a == b:
            point = self.starts[a] if a < len(self.text) else (self.ends[-1] if self.ends else 0)
            return point, point
        return self.starts[a], self.ends[b - 1]


def normalise(raw: str) -> str:
    """The normalised form of raw text: see `normalise_with_map` for the rules."""
    return normaliser_for(raw)(raw)


def normaliser_for(raw: str) -> Callable[[str], str]:
    """`normalise` for substrings of raw, sharing one NFKC table (chunking normalises many slices of a page)."""
    fold = folder_for(raw)
    return lambda part: _rewrite_whitespace(fold(part))


def folder_for(raw: str) -> Callable[[str], str]:
    """For substrings of raw: only the per-character NFKC and dropping of invisible characters, whitespace kept."""
    return _folder(_changes(raw))


def _folder(changes: dict[str, str]) -> Callable[[str], str]:
    if not changes:
        return lambda part: part
    # a regex over just the changing characters is much faster than str.translate on CJK text
    pattern = re.compile("[" + re.escape("".join(changes)) + "]")
    return lambda part: pattern.sub(lambda m: changes[m.group()], part)


def normalise_with_map(raw: str) -> Normalised:
    """NFKC per character, drop invisible format characters, then rewrite every whitespace run.

    A whitespace run becomes "\\n" when it holds a blank line after sentence-closing punctuation
    (a paragraph break); otherwise it disappears between CJK characters (and between CJK and a digit
    or punctuation, or inside a number range) and becomes one space elsewhere. Leading and trailing
    whitespace goes. Every rule looks only at the characters next to the run, so normalising a slice
    that starts and ends on non-space characters gives the matching slice of the whole.
    """
    changes = _changes(raw)
    expanded = _folder(changes)(raw)
    src = _sources(raw, changes)
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for run in _WS_RUN.finditer(expanded):
        p, q = run.span()
        _copy(expanded, src, pos, p, parts, starts, ends)
        pos = q
        if p == 0 or q == len(expanded):
            continue  # leading/trailing whitespace is stripped
        gap = _gap(expanded, p, q)
        if gap:
            parts.append(gap)
            starts.append(src[p])
            ends.append(src[q - 1] + 1)
    _copy(expanded, src, pos, len(expanded), parts, starts, ends)
    return Normalised("".join(parts), starts, ends)


def _rewrite_whitespace(expanded: str) -> str:
    last = len(expanded)

    def rewrite(run: re.Match) -> str:
        p, q = run.span()
        return "" if p == 0 or q == last else _gap(expanded, p, q)

    return _WS_RUN.sub(rewrite, expanded)


def _sources(raw: str, changes: dict[str, str]) -> Sequence[int]:
    """For each character of raw with its changes made, the index of the raw character it comes from."""
    resized = "".join(ch for ch, out in changes.items() if len(out) != 1)
    if not resized:
        return range(len(raw))  # one output character per input character: the identity
    src: list[int] = []
    pos = 0
    for match in re.finditer("[" + re.escape(resized) + "]", raw):
        i = match.start()
        src.extend(range(pos, i))
        src.extend([i] * len(changes[raw[i]]))
        pos = i + 1
    src.extend(range(pos, len(raw)))
    return src


def _changes(raw: str) -> dict[str, str]:
    """The characters of raw that NFKC, taken one character at a time, changes, with their replacement."""
    table = {}
    for ch in set(_MAYBE_CHANGED.findall(raw)):
        out = _nfkc_char(ch)
        if out != ch:
            table[ch] = out
    return table


def _nfkc_char(ch: str) -> str:
    # Zero-width spaces, BOMs, soft hyphens and stray control bytes carry no text: drop them.
    category = unicodedata.category(ch)
    if category == "Cf" or (category == "Cc" and not ch.isspace()):
        return ""
    return unicodedata.normalize("NFKC", ch)


def _copy(expanded: str, src: Sequence[int], a: int, b: int,
          parts: list[str], starts: list[int], ends: list[int]) -> None:
    if a < b:
        parts.append(expanded[a:b])
        sources = src[a:b]
        starts.extend(sources)
        ends.extend([i + 1 for i in sources])


def _gap(s: str, p: int, q: int) -> str:
    """What the interior whitespace run s[p:q] becomes."""
    if len(LINE_BREAK.findall(s, p, q)) >= 2 and _closes_paragraph(s, p):
        return "\n"
    return "" if _tight(s[p - 1], s[q]) else " "


def _closes_paragraph(s: str, p: int) -> bool:
    # OCR leaves blank lines in mid-sentence (column breaks); only a blank line after closing
    # punctuation (possibly followed by closing quotes) is taken as the end of a paragraph.
    k = p - 1
    while k >= 0 and s[k] in CLOSERS:
        k -= 1
    return k >= 0 and s[k] in PARA_END


def _tight(prev: str, nxt: str) -> bool:
    """Whether whitespace between these two characters is an artefact to drop rather than a word gap."""
    wide_prev, wide_next = _is_wide(prev), _is_wide(nxt)
    if wide_prev and (wide_next or nxt.isdigit() or _is_mark(nxt)):
        return True
    if wide_next and (prev.isdigit() or _is_mark(prev)):
        return True
    return (prev.isdigit() and nxt in _RANGE_MARKS) or (prev in _RANGE_MARKS and nxt.isdigit())


def _is_wide(ch: str) -> bool:
    # East Asian wide/fullwidth: Han, kana, hangul and CJK punctuation such as 。、「」.
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("P", "S")
