"""Reading page files and splitting an OCR'd newspaper page into articles."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from qa.documents import Article
from qa.errors import UnreadablePage
from qa.normalize import CLOSERS, LINE_BREAK, PARA_END, folder_for, normalise

HEADLINE_MAX_CHARS = 48  # longer lines are text, not headlines
MAX_HEADER_LINES = 4  # banner + section label + kicker + headline; more short lines in a row are text
MAX_BAD_SHARE = 0.02  # share of control/replacement characters above which a file is taken as binary

# Line kinds
BLANK, LEAD, BYLINE, MARKER, HEAD, TEXT = "blank", "lead", "byline", "marker", "head", "text"

_LEAD = re.compile(r"^本报\S{0,12}?讯")  # 本报讯, 本报郑州讯, 本报12月20日讯
_MARKERS = "■□▲△◆◇●○★☆"
_ROLE = r"(?:本报|特约|首席|见习|实习|摄影)?(?:记者|通讯员|实习生|摄影)"
_CREDIT = r"(?:文\s*/\s*图|图\s*/\s*文|文图|图文|摄影|摄|文|图)"
_NAME = rf"(?!{_ROLE})(?!{_CREDIT}\s*$)[\u3400-\u9fff]{{2,4}}(?:[·•][\u3400-\u9fff]{{1,8}})?"
_SEGMENT = rf"{_ROLE}[\s:]*{_NAME}(?:[\s、,]+{_NAME})*"
_BYLINE = rf"(?:{_SEGMENT}\s*)+(?:{_CREDIT})?"
_BYLINE_LINE = re.compile(rf"^{_BYLINE}\s*$")
# A byline run into the end of a paragraph ("……深入。记者 张改华 通讯员 闫晓栋 文/图").
_BYLINE_TAIL = re.compile(rf"(?<=[。!?”’\"」』)])\s*({_BYLINE})\s*$")
_BYLINE_SEGMENT = re.compile(rf"({_ROLE})[\s:]*({_NAME}(?:[\s、,]+{_NAME})*)")
_NAME_SEPARATOR = re.compile(r"[\s、,]+")
_ORG_SUFFIX = ("街道|办事处|社区|乡|镇|区|县|市|局|委|办|村|厅|部|院|所|中心|公司|集团|学校|大学|中学|小学"
               "|医院|站|队|协会|商会|工会|联合会|委员会|支部|党委|党组")
# "北下街街道: 挂图作战……" or "林山寨街道 汲取榜样力量……": the issuing organisation heads the line.
_ORG_PREFIX = re.compile(rf"^(?P<org>[\u3400-\u9fff]{{1,10}}?(?:{_ORG_SUFFIX}))\s*[:\s]\s*(?P<rest>\S.*)$")
_SENTENCE_PUNCT = re.compile(r"[。!?;,！？；，]")
_DATE = re.compile(r"(\d{1,2})月(\d{1,2})日")
_PAIRS = (("“", "”"), ("(", ")"), ("《", "》"), ("「", "」"), ("『", "』"))


@dataclass(frozen=True)
class _Line:
    start: int  # raw offset of the first non-space character
    end: int  # raw offset after the last non-space character
    text: str  # NFKC, invisible characters dropped, whitespace collapsed, stripped
    kind: str


@dataclass(frozen=True)
class _Unit:
    """Adjacent lines of one role: a header block, a byline, a marker or a stretch of body text."""

    kind: str  # "head", "byline", "marker" or "body"
    lines: tuple[_Line, ...]

    @property
    def lead(self) -> bool:
        return self.lines[0].kind == LEAD


@dataclass(frozen=True)
class _Names:
    reporters: tuple[str, ...] = ()
    correspondents: tuple[str, ...] = ()

    def __add__(self, other: _Names) -> _Names:
        return _Names(_unique(self.reporters + other.reporters), _unique(self.correspondents + other.correspondents))

    def __bool__(self) -> bool:
        return bool(self.reporters or self.correspondents)


def read_page(path: str | Path) -> str:
    """The text of a page file: UTF-8 (BOM stripped), UTF-16 with a BOM, else GB18030.

    Raises UnreadablePage for binary data or bytes that no such encoding decodes: a page is
    never decoded with replacement characters.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:  # permission denied, a folder named *.txt, a vanished file
        raise UnreadablePage(f"{path.name}: cannot be read ({error.strerror or error})") from error
    return decode_page(data, path.name)


def decode_page(data: bytes, name: str) -> str:
    """The text of a page's bytes (see read_page); `name` is for the messages."""
    text = _decode(data, name)
    if "\x00" in text:
        raise UnreadablePage(f"{name}: holds NUL bytes: binary data, not a text page")
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and not ch.isspace()))
    if text and bad / len(text) > MAX_BAD_SHARE:
        raise UnreadablePage(f"{name}: {bad} of {len(text)} characters are control or replacement "
                             "characters: binary data, not a text page")
    return text


def _decode(data: bytes, name: str) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadablePage(f"{name}: starts with a {encoding} byte-order mark but byte "
                                     f"{exc.start + len(bom)} is not {encoding}") from None
    if b"\x00" in data:
        raise UnreadablePage(f"{name}: holds NUL bytes: binary data, not a text page")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise UnreadablePage(f"{name}: neither UTF-8 nor GB18030 "
                             f"(undecodable byte at offset {exc.start})") from None


def parse_page(name: str, raw: str) -> list[Article]:
    """The articles of one page, in page order. Never raises.

    Structure comes from the lines: short lines without sentence punctuation before a body are
    headline (last), kicker (the one above, or an organisation heading the headline line) and
    page banner or section labels (further up, dropped); 本报讯 opens a news body; bylines
    (记者 …… 通讯员 ……) close one. A page without that structure is one article with a warning;
    a page with no visible text has none.
    """
    page = Path(name).name
    stem = Path(name).stem
    if not normalise(raw):
        return []
    units = _units(_lines(raw, folder_for(raw)))
    runs = _header_runs(units)
    if not runs:
        return [_fallback(page, stem, raw, units)]
    in_header = {k for i, j in runs for k in range(i, j + 1)}
    # short lines not taken as a header are text of the article they stand in
    units = [u if u.kind != "head" or k in in_header else _Unit("body", u.lines) for k, u in enumerate(units)]
    drafts = []
    if any(u.kind == "body" for u in units[:runs[0][0]]):
        drafts.append((None, units[:runs[0][0]]))  # text above the first headline
    for n, (i, j) in enumerate(runs):
        stop = runs[n + 1][0] if n + 1 < len(runs) else len(units)
        drafts.append((units[i:j + 1], units[j + 1:stop]))
    articles: list[Article] = []
    for header, body in drafts:
        article = _article(f"{stem}-a{len(articles) + 1:02d}", page, raw, header, body)
        if article is not None:
            articles.append(_inherit_byline(article, articles, body))
    return articles


def _lines(raw: str, fold: Callable[[str], str]) -> list[_Line]:
    lines = []
    pos = 0
    for brk in [*LINE_BREAK.finditer(raw), None]:
        stop = brk.start() if brk else len(raw)
        segment = raw[pos:stop]
        text = " ".join(fold(segment).split())  # NFKC, invisible characters dropped, spaces collapsed
        lead = len(segment) - len(segment.lstrip())
        trail = len(segment) - len(segment.rstrip())
        lines.append(_Line(pos + lead, stop - trail, text, _kind(text)))
        pos = brk.end() if brk else stop
    return lines


def _kind(text: str) -> str:
    if not text:
        return BLANK
    if _LEAD.match(text):
        return LEAD
    if _BYLINE_LINE.match(text):
        return BYLINE
    if text[0] in _MARKERS and len(text) <= 20:
        return MARKER
    return HEAD if _headline_like(text) else TEXT


def _headline_like(text: str) -> bool:
    """Short, no sentence punctuation, quotes and brackets balanced, not ending mid-phrase."""
    compact = "".join(text.split())
    if not 2 <= len(compact) <= HEADLINE_MAX_CHARS or _SENTENCE_PUNCT.search(compact):
        return False
    if compact[-1] in "、:(“‘《[" or compact.count('"') % 2:
        return False
    if any(compact.count(a) != compact.count(b) for a, b in _PAIRS):
        return False
    return any(ch.isalpha() for ch in compact)


def _units(lines: list[_Line]) -> list[_Unit]:
    """Group adjacent non-blank lines; 本报讯 lines, markers and bylines always start a new group."""
    units: list[_Unit] = []
    current: list[_Line] = []
    for line in lines:
        if line.kind == BLANK or (current and _starts_group(current[-1], line)):
            _flush(current, units)
        if line.kind != BLANK:
            current.append(line)
    _flush(current, units)
    return units


def _starts_group(previous: _Line, line: _Line) -> bool:
    if line.kind in (LEAD, MARKER) or previous.kind == MARKER:
        return True
    return (line.kind == BYLINE) != (previous.kind == BYLINE)


def _flush(current: list[_Line], units: list[_Unit]) -> None:
    if not current:
        return
    kinds = {line.kind for line in current}
    if kinds == {BYLINE}:
        kind = "byline"
    elif kinds == {MARKER}:
        kind = "marker"
    elif kinds == {HEAD} and len(current) <= 3:
        kind = "head"
    else:
        kind = "body"
    units.append(_Unit(kind, tuple(current)))
    current.clear()


def _header_runs(units: list[_Unit]) -> list[tuple[int, int]]:
    """Inclusive index ranges of the head/marker units accepted as article headers."""
    runs = []
    news_open = False  # inside a 本报讯 item whose byline has not come yet
    i = 0
    while i < len(units):
        if units[i].kind not in ("head", "marker"):
            news_open = _news_open(units[i], news_open)
            i += 1
            continue
        j = i
        while j + 1 < len(units) and units[j + 1].kind in ("head", "marker"):
            j += 1
        if _is_header(units, i, j, news_open):
            runs.append((i, j))
        i = j + 1
    return runs


def _news_open(unit: _Unit, was_open: bool) -> bool:
    if unit.kind == "byline" or (unit.kind == "body" and _BYLINE_TAIL.search(unit.lines[-1].text)):
        return False
    return was_open or (unit.kind == "body" and unit.lead)


def _is_header(units: list[_Unit], i: int, j: int, news_open: bool) -> bool:
    """Short lines head an article when a body follows and they do not continue the text above.

    Before a 本报讯 body they always do. Otherwise the text above must end a paragraph and must not
    be a 本报讯 item still waiting for its byline: a news item runs until its byline, so a short
    line inside it is a paragraph fragment left by the OCR, not a new headline.
    """
    heads = sum(len(u.lines) for u in units[i:j + 1] if u.kind == "head")
    if not 1 <= heads <= MAX_HEADER_LINES:
        return False
    k = j + 1
    if k < len(units) and units[k].kind == "byline":
        k += 1  # a byline printed under the headline
    if k >= len(units) or units[k].kind != "body":
        return False
    if units[k].lead:
        return True
    if news_open:
        return False
    return i == 0 or units[i - 1].kind == "byline" or _closed(units[i - 1])


def _closed(unit: _Unit) -> bool:
    """Whether a unit ends a paragraph: closing punctuation, or a byline run into its last line."""
    text = unit.lines[-1].text.rstrip("".join(CLOSERS))
    return bool(text) and (text[-1] in PARA_END or bool(_BYLINE_TAIL.search(unit.lines[-1].text)))


def _article(article_id: str, page: str, raw: str, header: list[_Unit] | None,
             body: list[_Unit]) -> Article | None:
    span = list(body)
    while span and span[0].kind == "byline":
        span.pop(0)
    while span and span[-1].kind == "byline":
        span.pop()
    if not span:
        return None
    body_start, body_end = span[0].lines[0].start, span[-1].lines[-1].end
    text = normalise(raw[body_start:body_end])
    if not text:
        return None
    warnings = []
    if header is None:
        headline, kicker = _first_line(span), None
        warnings.append("text above the first headline: headline is its first line")
    else:
        headline, kicker = _titles([line for u in header if u.kind == "head" for line in u.lines])
    if any(u.kind == "byline" for u in span):
        warnings.append("byline inside the body (text continues after it)")
    names = _names(body)
    return Article(id=article_id, page=page, headline=headline, kicker=kicker, date=_date(text),
                   reporters=names.reporters, correspondents=names.correspondents, body=text,
                   body_start=body_start, body_end=body_end, warnings=tuple(warnings))


def _fallback(page: str, stem: str, raw: str, units: list[_Unit]) -> Article:
    """The whole page as one article, for pages without recognisable article structure."""
    lines = [line for u in units for line in u.lines]
    body_start, body_end = lines[0].start, lines[-1].end
    text = normalise(raw[body_start:body_end])
    names = _names(units)
    return Article(id=f"{stem}-a01", page=page, headline=_first_line(units), kicker=None, date=_date(text),
                   reporters=names.reporters, correspondents=names.correspondents, body=text,
                   body_start=body_start, body_end=body_end,
                   warnings=("no article structure found: the whole page is one article",))


def _first_line(units: list[_Unit]) -> str:
    for unit in units:
        for line in unit.lines:
            headline = normalise(line.text)
            if headline:
                return headline[:HEADLINE_MAX_CHARS]
    return ""


def _titles(lines: list[_Line]) -> tuple[str, str | None]:
    """(headline, kicker) from header lines: the last is the headline, the one above the kicker."""
    head = lines[-1].text
    org = _ORG_PREFIX.match(head)
    if org:
        return normalise(org["rest"]), normalise(org["org"])
    return normalise(head), (normalise(lines[-2].text) if len(lines) > 1 else None)


def _names(units: list[_Unit]) -> _Names:
    names = _Names()
    for unit in units:
        for line in unit.lines:
            if line.kind == BYLINE:
                names += _byline_names(line.text)
            elif line.kind == TEXT or line.kind == LEAD:
                tail = _BYLINE_TAIL.search(line.text)
                if tail:
                    names += _byline_names(tail.group(1))
    return names


def _byline_names(byline: str) -> _Names:
    reporters: list[str] = []
    correspondents: list[str] = []
    for segment in _BYLINE_SEGMENT.finditer(byline):
        people = [n for n in _NAME_SEPARATOR.split(segment.group(2)) if n]
        (correspondents if "通讯员" in segment.group(1) else reporters).extend(people)
    return _Names(tuple(reporters), tuple(correspondents))


def _inherit_byline(article: Article, earlier: list[Article], body: list[_Unit]) -> Article:
    # A feature section (no 本报讯) without its own byline is covered by the byline above it,
    # e.g. one byline closing a page's introduction for all its sections.
    if article.reporters or article.correspondents or not earlier or any(u.lead for u in body if u.kind == "body"):
        return article
    source = earlier[-1]
    if not (source.reporters or source.correspondents):
        return article
    return replace(article, reporters=source.reporters, correspondents=source.correspondents,
                   warnings=article.warnings + (f"byline taken from {source.id}",))


def _date(body: str) -> str | None:
    match = _DATE.search(body.split("\n", 1)[0])
    return f"{match.group(1)}月{match.group(2)}日" if match else None


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
