"""Sentence splitting and sentence-aware, overlapping chunking of one article into passages."""

from __future__ import annotations

import re
from bisect import bisect_right

from qa.ingest import citations
from qa.ingest.documents import Article, Chunk
from qa.ingest.normalize import CLOSERS, TERMINATORS, Normalised, normalise_with_map, normaliser_for

_PARAGRAPH = re.compile(r"[^\n\r\u2028\u2029]+")
_TERMINATOR_RUN = re.compile("[" + re.escape("".join(sorted(TERMINATORS))) + "]+")
_QUOTE = re.compile(r"[“”‘’「」『』\"]")
_OPENERS = {"“": "”", "‘": "’", "「": "」", "『": "』"}
_CLOSER_TO_OPENER = {close: open_ for open_, close in _OPENERS.items()}
_CLAUSE_END = re.compile(r"[,，、]")
# How far down the stack of open quotes a closing quote may look for its partner; bounds the work
# on pathological input while any real nesting is shallower.
_QUOTE_SEARCH_DEPTH = 4


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`, without surrounding whitespace.

    A sentence ends after a run of 。!?; (half or full width) plus any closing quotes or brackets,
    and at every paragraph break. A terminator inside a quotation does not end the sentence unless
    the quotation closes right after it ("……。”" ends the sentence with its closing quote).
    """
    spans: list[tuple[int, int]] = []
    for paragraph in _PARAGRAPH.finditer(text):
        _split_paragraph(text, paragraph.start(), paragraph.end(), spans)
    return spans


def _split_paragraph(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    quoted, ascii_closers = _quotations(text, start, end)
    quote_starts = [a for a, _ in quoted]
    cursor = start
    for run in _TERMINATOR_RUN.finditer(text, start, end):
        cut = _after_closers(text, run.end(), end, ascii_closers)
        k = bisect_right(quote_starts, run.start()) - 1
        if k >= 0 and quoted[k][1] > run.start() and quoted[k][1] >= cut:
            continue  # inside a quotation that is still open after the terminator
        _emit(text, cursor, cut, spans)
        cursor = cut
    _emit(text, cursor, end, spans)


def _quotations(text: str, start: int, end: int) -> tuple[list[tuple[int, int]], set[int]]:
    """Matched quotation spans (opening, closing position), merged; and the positions of closing ASCII quotes.

    Unmatched quotes (OCR drops many) are ignored, so one stray “ cannot glue a whole paragraph together.
    """
    pairs: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    ascii_open: int | None = None
    ascii_closers: set[int] = set()
    for match in _QUOTE.finditer(text, start, end):
        mark, pos = match.group(), match.start()
        if mark == '"':
            # ASCII quotes carry no direction: pair them in order of appearance
            if ascii_open is None:
                ascii_open = pos
            else:
                pairs.append((ascii_open, pos))
                ascii_closers.add(pos)
                ascii_open = None
        elif mark in _OPENERS:
            stack.append((mark, pos))
        else:
            opener = _CLOSER_TO_OPENER[mark]
            for depth in range(len(stack) - 1, max(len(stack) - 1 - _QUOTE_SEARCH_DEPTH, -1), -1):
                if stack[depth][0] == opener:
                    pairs.append((stack[depth][1], pos))
                    del stack[depth:]
                    break
    return _merge(sorted(pairs)), ascii_closers


def _merge(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in pairs:
        if merged and a < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _after_closers(text: str, k: int, end: int, ascii_closers: set[int]) -> int:
    while k < end and (text[k] in CLOSERS or (text[k] == '"' and k in ascii_closers)):
        k += 1
    return k


def _emit(text: str, a: int, b: int, spans: list[tuple[int, int]]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if a < b:
        spans.append((a, b))


def chunk_article(article: Article, raw: str, min_chars: int = 200, max_chars: int = 300,
                  overlap: int = 1) -> list[Chunk]:
    """Passages of about min..max normalised characters made of whole sentences of one article.

    Consecutive chunks share `overlap` sentences unless that would push the next chunk past
    `max_chars`. A sentence longer than max_chars is a chunk of its own; one longer than twice
    max_chars is split at commas (and, failing that, cut at max_chars). `raw` is the page text the
    article's offsets refer to; every chunk satisfies normalise(raw[start:end]) == text.
    """
    base = article.body_start
    body = raw[base:article.body_end]
    norm = normalise_with_map(body)
    normalise = normaliser_for(body)
    units = _units(norm, max_chars)
    chunks = []
    for number, (i, j) in enumerate(_group(units, min_chars, max_chars, overlap), 1):
        a, b = units[i][0], units[j][1]
        raw_a, raw_b = norm.to_raw(a, b)
        text = normalise(raw[base + raw_a:base + raw_b])
        if text == norm.text[a:b]:
            sentences = tuple((s - a, e - a) for s, e in units[i:j + 1])
        else:  # cannot happen for spans that start and end on sentence boundaries; stay exact anyway
            sentences = tuple(split_sentences(text))
        chunks.append(Chunk(id=citations.passage_id(article.id, number), article_id=article.id, page=article.page,
                            text=text, start=base + raw_a, end=base + raw_b, sentences=sentences))
    return chunks


def _units(norm: Normalised, max_chars: int) -> list[tuple[int, int]]:
    """Sentences, with those over twice max_chars broken into clauses (and clauses over max_chars cut)."""
    units: list[tuple[int, int]] = []
    for a, b in split_sentences(norm.text):
        if b - a <= 2 * max_chars:
            units.append((a, b))
            continue
        for c, d in _clauses(norm.text, a, b):
            units.extend(_cut(norm, c, d, max_chars) if d - c > max_chars else [(c, d)])
    return units


def _clauses(text: str, a: int, b: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = a
    for mark in _CLAUSE_END.finditer(text, a, b):
        cut = _after_closers(text, mark.end(), b, set())
        _emit(text, cursor, cut, spans)
        cursor = cut
    _emit(text, cursor, b, spans)
    return spans


def _cut(norm: Normalised, a: int, b: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut a span with no usable punctuation into pieces of at most max_chars, at safe positions."""
    pieces: list[tuple[int, int]] = []
    while b - a > max_chars:
        k = a + max_chars
        while k > a and not _safe_cut(norm, k):
            k -= 1
        if k == a:  # no safe position (e.g. one long NFKC expansion): keep the rest whole
            break
        _emit(norm.text, a, k, pieces)
        a = k
    _emit(norm.text, a, b, pieces)
    return pieces


def _safe_cut(norm: Normalised, k: int) -> bool:
    # A piece must start on a visible character of its own raw source (not inside an NFKC expansion)
    # and not on a closing quote, so that normalising its raw span reproduces it exactly.
    ch = norm.text[k]
    return not ch.isspace() and ch not in CLOSERS and norm.starts[k] != norm.starts[k - 1]


def _group(units: list[tuple[int, int]], min_chars: int, max_chars: int, overlap: int) -> list[tuple[int, int]]:
    """Inclusive unit index ranges of the chunks."""
    groups: list[tuple[int, int]] = []
    nxt = 0  # first unit not yet in any chunk
    while nxt < len(units):
        start = nxt
        if groups:
            # carry the last `overlap` units of the previous chunk, as many as still fit with the next one
            for carry in range(min(overlap, nxt - groups[-1][0] - 1), 0, -1):
                if units[nxt][1] - units[nxt - carry][0] <= max_chars:
                    start = nxt - carry
                    break
        end = nxt
        while (end + 1 < len(units) and units[end][1] - units[start][0] < min_chars
               and units[end + 1][1] - units[start][0] <= max_chars):
            end += 1
        groups.append((start, end))
        nxt = end + 1
    return groups
