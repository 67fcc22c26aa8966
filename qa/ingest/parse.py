"""Splitting an OCR'd newspaper page into articles: line roles, header runs, bodies, bylines and dates.

Longer than 400 lines: the page is read as one pass over its lines and their units (header, body, byline,
banner), and the rules that decide a header (leads, commas, headlines printed against their body) consult each
other's units; reading pages (pages.py), dates (dates.py) and bylines (byline.py) are their own modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from qa.ingest import byline, citations
from qa.ingest.byline import Names
from qa.ingest.dates import PRINTED_DATE, Date, dating, first_date, numbers
from qa.ingest.documents import Article
from qa.ingest.normalize import CLOSERS, LINE_BREAK, PARA_END, folder_for, normalise, normalise_with_map
from qa.language.lexicon import ISSUER_ENDINGS

HEADLINE_MAX_CHARS = 48  # longer lines are text, not headlines
MAX_HEADER_LINES = 4  # banner + section label + kicker + headline; more short lines in a row are text
MAX_JOINED_LINES = 3  # kicker + headline (+ label) printed against a body without a blank line
BANNER_MAX_CHARS = 60  # a page header or footer line: 郑州日报 2021年12月23日 星期四 第3版

# Line roles; COMMA is a HEAD with commas in it (抓党建,促发展), a headline only where the context says so.
BLANK, LEAD, BYLINE, BANNER, MARKER, HEAD, COMMA, TEXT = (
    "blank", "lead", "byline", "banner", "marker", "head", "comma", "text")

_LEAD = re.compile(r"^本报\S{0,12}?讯")  # 本报讯, 本报郑州讯, 本报12月20日讯
_MARKERS = "■□▲△◆◇●○★☆"
_ORG_SUFFIX = "|".join(ISSUER_ENDINGS)
# "北下街街道: 挂图作战……" or "林山寨街道 汲取榜样力量……": the issuing organisation heads the line.
_ORG_PREFIX = re.compile(rf"^(?P<org>[\u3400-\u9fff]{{1,10}}?(?:{_ORG_SUFFIX}))\s*[:\s]\s*(?P<rest>\S.*)$")
_SENTENCE_PUNCT = re.compile(r"[。!?;,！？；，]")
_FINAL_PUNCT = re.compile(r"[。!?;！？；]")
_COMMA = re.compile(r"[,，]")
_PAIRS = (("“", "”"), ("(", ")"), ("《", "》"), ("「", "」"), ("『", "』"))
_WEEKDAY = re.compile(r"(?:星期|礼拜)[一二三四五六日天]|周[一二三四五六日]")
# A page number: 第3版, 第十二版, and the section-letter labels of larger papers: A3版, 第A03版.
_EDITION = re.compile(r"(?:^|\s)第?\s*(?:[\d一二三四五六七八九十]+|[A-Z]\s*\d{1,2})\s*版(?:\s|$)")
_EDITOR = re.compile(r"(?:^|\s)(?:责任编辑|责编|美编|校对|版式设计|审读)\s*:?\s*[\u3400-\u9fff]{2,4}(?:\s|$)")
# How the first line of a news body opens: "12月20日上午," "近日," "连日来,".
_OPENING = re.compile(r"^(?:(?:\d{4}年)?\d{1,2}月\d{1,2}日|\d{1,2}月份以来|近日|日前|连日来|近年来|今年以来)"
                      r"[\u3400-\u9fff]{0,3}[,，]")
_JOINERS = "的了和与及或并在于对向从到把被将由给跟同"  # a line ending in one of these runs on into the next


class _Title(NamedTuple):
    text: str
    span: tuple[int, int] | None  # raw offsets, None where they cannot be told exactly


@dataclass(frozen=True)
class _Line:
    start: int  # raw offset of the first non-space character
    end: int  # raw offset after the last non-space character
    text: str  # NFKC, invisible characters dropped, whitespace collapsed, stripped
    role: str


@dataclass(frozen=True)
class _Unit:
    """Adjacent lines of one role: a header block, a byline, a banner, a marker or a stretch of body text."""

    role: str  # "head", "byline", "banner", "marker" or "body" ("comma" until _settle_commas decides)
    lines: tuple[_Line, ...]
    joined: bool = False  # a header cut from the top of its body: printed without a blank line between

    @property
    def lead(self) -> bool:
        return self.lines[0].role == LEAD


def parse_page(name: str, raw: str) -> list[Article]:
    """The articles of one page, in page order. Never raises.

    Structure comes from the lines: short lines without sentence punctuation before a body are
    headline (last), kicker (the one above, or an organisation heading the headline line) and
    page banner or section labels (further up, dropped); 本报讯 opens a news body; bylines
    (记者 …… 通讯员 ……) close one. Page header and footer lines (date, 第3版, 责任编辑) are dropped;
    their date dates the articles that print none. A page without that structure is one article per
    blank-line-separated block, each with a warning; a page with no visible text has none.
    """
    page = Path(name).name
    stem = Path(name).stem
    if not normalise(raw):
        return []
    lines = _lines(raw, folder_for(raw))
    page_date = _page_date(raw, lines)
    units = _join_cut_headers(_settle_commas(_units(lines)))
    runs = _header_runs(units)
    if not runs:
        return _blocks(page, stem, raw, lines, page_date)
    in_header = {k for i, j in runs for k in range(i, j + 1)}
    # short lines not taken as a header are text of the article they stand in
    units = [u if u.role != "head" or k in in_header else _Unit("body", u.lines) for k, u in enumerate(units)]
    drafts = []
    if any(u.role == "body" for u in units[:runs[0][0]]):
        drafts.append((None, units[:runs[0][0]]))  # text above the first headline
    for n, (i, j) in enumerate(runs):
        stop = runs[n + 1][0] if n + 1 < len(runs) else len(units)
        drafts.append((units[i:j + 1], units[j + 1:stop]))
    articles: list[Article] = []
    for header, body in drafts:
        article = _article(citations.article_id(stem, len(articles) + 1), page, raw, header, body, page_date)
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
        lines.append(_Line(pos + lead, stop - trail, text, _role(text)))
        pos = brk.end() if brk else stop
    return _dateline_banners(lines)


def _role(text: str) -> str:
    if not text:
        return BLANK
    if _LEAD.match(text):
        return LEAD
    if byline.read(text):
        return BYLINE
    if _banner_like(text):
        return BANNER
    if text[0] in _MARKERS and len(text) <= 20:
        return MARKER
    if _headline_like(text):
        return HEAD
    return COMMA if _headline_like(text, commas=True) and min(_comma_parts(text)) >= 2 else TEXT


def _headline_like(text: str, commas: bool = False) -> bool:
    """Short, no sentence punctuation (but commas, if asked), brackets balanced, not ending mid-phrase."""
    compact = "".join(text.split())
    punct = _FINAL_PUNCT if commas else _SENTENCE_PUNCT
    if not 2 <= len(compact) <= HEADLINE_MAX_CHARS or punct.search(compact):
        return False
    if compact[-1] in "、:(“‘《[,，" or compact.count('"') % 2:
        return False
    if any(compact.count(a) != compact.count(b) for a, b in _PAIRS):
        return False
    return any(ch.isalpha() for ch in compact)


def _banner_like(text: str) -> bool:
    """A page header or footer line: the issue's date with its weekday, a page number (第3版), editors."""
    if len(text) > BANNER_MAX_CHARS or _FINAL_PUNCT.search(text):
        return False
    if _EDITION.search(text) or _EDITOR.search(text):
        return True
    date = PRINTED_DATE.search(text)
    return bool(date and numbers(date)[0] and _WEEKDAY.search(text))


def _dateline_banners(lines: list[_Line]) -> list[_Line]:
    """A line holding only a full date above the first text is the page's dateline, not a headline."""
    out = []
    for n, line in enumerate(lines):
        if line.role in (LEAD, BYLINE, TEXT, COMMA):
            return out + lines[n:]
        date = PRINTED_DATE.fullmatch(line.text) if line.role == HEAD else None
        out.append(replace(line, role=BANNER) if date and numbers(date)[0] else line)
    return out


def _units(lines: list[_Line]) -> list[_Unit]:
    """Group adjacent non-blank lines; leads, banners, markers and bylines always start a new group."""
    units: list[_Unit] = []
    current: list[_Line] = []
    for line in lines:
        if line.role == BLANK or (current and _starts_group(current[-1], line)):
            _flush(current, units)
        if line.role != BLANK:
            current.append(line)
    _flush(current, units)
    return units


def _starts_group(previous: _Line, line: _Line) -> bool:
    if line.role in (LEAD, MARKER, BANNER) or previous.role in (MARKER, BANNER):
        return True
    return (line.role == BYLINE) != (previous.role == BYLINE)


def _flush(current: list[_Line], units: list[_Unit]) -> None:
    if not current:
        return
    roles = {line.role for line in current}
    if roles == {BYLINE}:
        role = "byline"
    elif roles == {MARKER}:
        role = "marker"
    elif roles == {BANNER}:
        role = "banner"
    elif roles <= {HEAD, COMMA} and len(current) <= 3:
        role = "comma" if COMMA in roles else "head"  # settled by _settle_commas
    else:
        role = "body"
    units.append(_Unit(role, tuple(current)))
    current.clear()


def _settle_commas(units: list[_Unit]) -> list[_Unit]:
    """Short lines with commas are a header where what follows confirms it, else text."""
    out: list[_Unit] = []
    for n, unit in enumerate(units):
        if unit.role == "comma":
            unit = _Unit("head" if _comma_header(units, n, out[-1] if out else None) else "body", unit.lines)
        out.append(unit)
    return out


def _comma_header(units: list[_Unit], n: int, previous: _Unit | None) -> bool:
    """Whether the comma unit units[n] is (part of) a header.

    A 本报讯 lead below it, under at most a few header lines and a byline, confirms it if it follows a
    finished paragraph. Above any other body it must be the headline itself, right over that body,
    read as one (parts of like length: 抓党建,促发展) and start an article: follow a byline, a banner,
    a kicker or nothing. A comma line is so often a piece of a column-wrapped sentence that nothing
    less will do.
    """
    after_header = previous is None or previous.role in ("byline", "banner", "head", "marker")
    if not (after_header or _closed(previous)):
        return False
    k = n
    while k < len(units) and units[k].role in ("head", "marker", "comma"):
        k += 1
    heads = sum(len(u.lines) for u in units[n:k] if u.role != "marker")
    if k < len(units) and units[k].role == "byline":
        k += 1
    if k >= len(units) or units[k].role != "body":
        return False
    if units[k].lead:
        return heads <= MAX_HEADER_LINES
    return after_header and units[n + 1].role in ("body", "byline") and all(
        _parallel(line.text) for line in units[n].lines if line.role == COMMA)


def _join_cut_headers(units: list[_Unit]) -> list[_Unit]:
    """Cut header lines printed without a blank line against the text of a body unit into their own unit."""
    out: list[_Unit] = []
    for n, unit in enumerate(units):
        out += _cut_header(unit, units[n + 1] if n + 1 < len(units) else None) if unit.role == "body" else [unit]
    return out


def _cut_header(unit: _Unit, following: _Unit | None) -> list[_Unit]:
    """The body unit, split where header lines are printed against its text.

    Above a 本报讯 lead, short lines after a finished paragraph are the next article's header. Elsewhere
    short lines at the top of the unit or after a finished paragraph are a header only when the body
    line below cannot continue them: it is much longer (one line per paragraph) or opens like a news
    lead (12月20日上午,) after a line that does not end mid-phrase. Column-wrapped OCR text is short
    lines throughout, so no other short line is taken for a headline.
    """
    lines = unit.lines
    tail = _trailing_heads(lines)
    if following is not None and following.lead and 0 < tail < len(lines) and _ends_paragraph(lines[-tail - 1]):
        return [_Unit("body", lines[:-tail]), _Unit("head", lines[-tail:])]
    below = following.lines[0] if following is not None and following.role == "body" else None
    pieces: list[_Unit] = []
    start = 0  # of the text not yet cut
    for i in range(len(lines)):
        after_paragraph = i >= start and (i == 0 or _ends_paragraph(lines[i - 1]))
        heads = _heads_above_body(lines, i, below) if after_paragraph else 0
        if heads:
            pieces += [_Unit("body", lines[start:i])] if i > start else []
            pieces.append(_Unit("head", lines[i:i + heads], joined=True))
            start = i + heads
    return pieces + ([_Unit("body", lines[start:])] if start < len(lines) else [])


def _heads_above_body(lines: tuple[_Line, ...], i: int, below: _Line | None) -> int:
    """How many lines from lines[i] on are a header over the body line after them (0: none are).

    `below` is the first line of the next unit, for header lines that end this one. Without a lead to
    confirm them, only lines without commas count (a comma line here is too likely a piece of a
    sentence), and the body line must be much longer or open like a news lead.
    """
    heads = 0
    while i + heads < len(lines) and lines[i + heads].role == HEAD:
        heads += 1
    body = lines[i + heads] if i + heads < len(lines) else below
    if not 0 < heads <= MAX_JOINED_LINES or body is None or lines[i + heads - 1].text[-1] in _JOINERS:
        return 0
    first = _compact(body)
    return heads if len(first) > HEADLINE_MAX_CHARS or _OPENING.match(first) else 0


def _trailing_heads(lines: tuple[_Line, ...]) -> int:
    """How many of the last lines could be header lines (0 if more than MAX_JOINED_LINES could be)."""
    count = 0
    while count < len(lines) and lines[-count - 1].role in (HEAD, COMMA):
        count += 1
    return count if count <= MAX_JOINED_LINES else 0


def _compact(line: _Line) -> str:
    return "".join(line.text.split())


def _parallel(text: str) -> bool:
    """Comma-separated parts of like length (抓党建,促发展): a headline, not a piece of a wrapped sentence."""
    sizes = _comma_parts(text)
    return 2 <= len(sizes) <= 3 and min(sizes) >= 2 and max(sizes) <= 2 * min(sizes)


def _comma_parts(text: str) -> list[int]:
    """The lengths of the comma-separated parts of a line."""
    return [len(part) for part in _COMMA.split("".join(text.split()))]


def _header_runs(units: list[_Unit]) -> list[tuple[int, int]]:
    """Inclusive index ranges of the head/marker units accepted as article headers."""
    runs = []
    news_open = False  # inside a 本报讯 item whose byline has not come yet
    i = 0
    while i < len(units):
        if units[i].role not in ("head", "marker"):
            news_open = _news_open(units[i], news_open)
            i += 1
            continue
        j = i
        while j + 1 < len(units) and units[j + 1].role in ("head", "marker"):
            j += 1
        if _is_header(units, i, j, news_open):
            runs.append((i, j))
        i = j + 1
    return runs


def _news_open(unit: _Unit, was_open: bool) -> bool:
    if unit.role == "byline" or (unit.role == "body" and byline.tail_start(unit.lines[-1].text) is not None):
        return False
    return was_open or (unit.role == "body" and unit.lead)


def _is_header(units: list[_Unit], i: int, j: int, news_open: bool) -> bool:
    """Short lines head an article when a body follows and they do not continue the text above.

    Before a 本报讯 body they always do. Otherwise the text above must end a paragraph and must not
    be a 本报讯 item still waiting for its byline: a news item runs until its byline, so a short
    line inside it is a paragraph fragment left by the OCR, not a new headline.
    """
    heads = sum(len(u.lines) for u in units[i:j + 1] if u.role == "head")
    if not 1 <= heads <= MAX_HEADER_LINES:
        return False
    k = j + 1
    if k < len(units) and units[k].role == "byline":
        k += 1  # a byline printed under the headline
    if k >= len(units) or units[k].role != "body":
        return False
    if units[k].lead:
        return True
    if news_open:
        return False
    return i == 0 or units[i - 1].role in ("byline", "banner") or _closed(units[i - 1])


def _closed(unit: _Unit) -> bool:
    return _ends_paragraph(unit.lines[-1])


def _ends_paragraph(line: _Line) -> bool:
    """Whether a line ends a paragraph: closing punctuation, or a byline run into its end."""
    text = line.text.rstrip("".join(CLOSERS))
    return bool(text) and (text[-1] in PARA_END or byline.tail_start(line.text) is not None)


def _article(article_id: str, page: str, raw: str, header: list[_Unit] | None, body: list[_Unit],
             page_date: Date | None) -> Article | None:
    span = list(body)
    while span and span[0].role in ("byline", "banner"):
        span.pop(0)
    while span and span[-1].role in ("byline", "banner"):
        span.pop()
    if not span:
        return None
    start, end = span[0].lines[0].start, span[-1].lines[-1].end
    text = normalise(raw[start:end])
    if not text:
        return None
    warnings = []
    if header is None:
        headline, kicker = _title(raw, span[0].lines[0], HEADLINE_MAX_CHARS), None
        warnings.append("text above the first headline: headline is its first line")
    else:
        headline, kicker = _titles(raw, [line for u in header if u.role == "head" for line in u.lines])
        warnings += _header_doubts(header, span[0].lead)
    if any(u.role == "byline" for u in span):
        warnings.append("byline inside the body (text continues after it)")
    people = [line for u in body for line in u.lines]
    return _assemble(Article(id=article_id, page=page, headline=headline.text, kicker=kicker and kicker.text,
                             date=None, reporters=(), correspondents=(), body=text, body_start=start,
                             body_end=end, headline_span=headline.span, kicker_span=kicker and kicker.span),
                     raw, people, page_date, warnings)


def _header_doubts(header: list[_Unit], lead: bool) -> list[str]:
    """Warnings for a header that no 本报讯 lead confirms and that was told from weaker signs."""
    if lead:
        return []
    doubts = []
    if any(u.joined for u in header):
        doubts.append("headline guessed: printed right above its body, without a blank line")
    if any(line.role == COMMA for u in header if u.role == "head" for line in u.lines):
        doubts.append("headline guessed: a short line with commas above a body")
    return doubts


def _blocks(page: str, stem: str, raw: str, lines: list[_Line], page_date: Date | None) -> list[Article]:
    """A page without article structure: one article per blank-line-separated block, no text left out.

    Each block's first line is its headline and stays in its body.
    """
    blocks: list[list[_Line]] = [[]]
    for line in lines:
        if line.role == BLANK:
            blocks.append([])
        else:
            blocks[-1].append(line)
    articles = []
    for block in filter(None, blocks):
        start, end = block[0].start, block[-1].end
        headline = _title(raw, block[0], HEADLINE_MAX_CHARS)
        article = Article(id=citations.article_id(stem, len(articles) + 1), page=page, headline=headline.text, kicker=None,
                          date=None, reporters=(), correspondents=(), body=normalise(raw[start:end]),
                          body_start=start, body_end=end, headline_span=headline.span)
        articles.append(_assemble(article, raw, block, page_date,
                                  ["no article structure found: one article per block, its first line as headline"]))
    return articles


def _assemble(article: Article, raw: str, people: list[_Line], page_date: Date | None,
              warnings: list[str]) -> Article:
    """The article with its date and its people read, and every doubt about it among its warnings."""
    date, day, date_doubts = dating(first_date(raw, article.body_start, article.body_end), page_date)
    names, spans = _people(raw, people)
    return replace(article, date=date and date.printed, day=day, date_span=date and date.span,
                   reporters=names.reporters, correspondents=names.correspondents,
                   photographers=names.photographers, byline_spans=spans,
                   warnings=(*warnings, *date_doubts, *(f"name of unusual length: {n}" for n in names.unusual)))


def _title(raw: str, line: _Line, limit: int | None = None) -> _Title:
    """A line as a title (cut to `limit` characters), with its raw span."""
    text = normalise(line.text)[:limit].rstrip()
    return _Title(text, _span(raw, line.start, line.end, text))


def _titles(raw: str, lines: list[_Line]) -> tuple[_Title, _Title | None]:
    """(headline, kicker) from header lines: the last is the headline, the one above the kicker."""
    head = lines[-1]
    org = _ORG_PREFIX.match(head.text)
    if org:
        headline, kicker = normalise(org["rest"]), normalise(org["org"])
        return (_Title(headline, _span(raw, head.start, head.end, headline, last=True)),
                _Title(kicker, _span(raw, head.start, head.end, kicker)))
    return _title(raw, head), (_title(raw, lines[-2]) if len(lines) > 1 else None)


def _people(raw: str, lines: list[_Line]) -> tuple[Names, tuple[tuple[int, int], ...]]:
    """The names of the bylines among these lines, and the raw span of each byline that named someone."""
    names = Names()
    spans = []
    for line in lines:
        for start, end in _bylines(line):
            found = byline.read(line.text[start:end])
            if found:
                names += found
                text = normalise(line.text[start:end])
                spans.append(_span(raw, line.start, line.end, text, last=end == len(line.text)))
    return names, tuple(s for s in spans if s)


def _bylines(line: _Line) -> list[tuple[int, int]]:
    """Where bylines sit in a line's text: all of it, its tail, or in parentheses after 本报讯."""
    if line.role == BYLINE:
        return [(0, len(line.text))]
    found = []
    if line.role == LEAD and (inner := byline.lead_span(line.text)):
        found.append(inner)
    tail = byline.tail_start(line.text) if line.role in (LEAD, TEXT) else None
    if tail is not None:
        found.append((tail, len(line.text)))
    return found


def _inherit_byline(article: Article, earlier: list[Article], body: list[_Unit]) -> Article:
    # A feature section (no 本报讯) without its own byline is covered by the byline above it,
    # e.g. one byline closing a page's introduction for all its sections.
    if _named(article) or not earlier or any(u.lead for u in body if u.role == "body"):
        return article
    source = earlier[-1]
    if not _named(source):
        return article
    return replace(article, reporters=source.reporters, correspondents=source.correspondents,
                   photographers=source.photographers, byline_spans=source.byline_spans,
                   warnings=article.warnings + (f"byline taken from {source.id}",))


def _named(article: Article) -> bool:
    return bool(article.reporters or article.correspondents or article.photographers)


def _page_date(raw: str, lines: list[_Line]) -> Date | None:
    """The issue's date, from the first banner line (page header or footer) that prints one."""
    for line in lines:
        if line.role == BANNER:
            found = first_date(raw, line.start, line.end)
            if found:
                return found
    return None


def _span(raw: str, start: int, end: int, part: str, last: bool = False) -> tuple[int, int] | None:
    """Raw offsets of `part` (normalised text) where raw[start:end] prints it first (or last); None if it does not."""
    mapped = normalise_with_map(raw[start:end])
    at = mapped.text.rfind(part) if last else mapped.text.find(part)
    if not part or at < 0:
        return None
    a, b = mapped.to_raw(at, at + len(part))
    return (start + a, start + b) if normalise(raw[start + a:start + b]) == part else None
