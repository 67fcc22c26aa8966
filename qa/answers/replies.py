"""The JSON of a reply and of a citation lookup: answers, passages with their highlights, article records, the
span, passage and paragraph a citation id names; and a chat reply's text with its [n] markers."""

from __future__ import annotations

import re

from qa.answers import archive, kinds
from qa.answers.answer import Answer, Span, raw_span
from qa.errors import NotFound, StoreUnavailable, quoted
from qa.ingest import citations
from qa.ingest.documents import Article, Chunk, Hit
from qa.language.tokenize import Tokenizer
from qa.storage.records import Records

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u3000]*\n")


def answer_json(answer: Answer) -> dict:
    """A fact answer: the span the reader found (or its sentence when the reader is not sure of the span)."""
    return {
        "kind": kinds.FACT,
        "text": answer.span.text if answer.span_confident else answer.sentence.text,
        "span_confident": answer.span_confident,
        "span_text": answer.span.text,
        "sentence": answer.sentence.text,
        "highlight": {"start": answer.highlight[0], "end": answer.highlight[1]},
        "span": {"start": answer.span.start, "end": answer.span.end},
        "sentence_span": {"start": answer.sentence.start, "end": answer.sentence.end},
        "confidence": round(answer.confidence, 4),
        "support": round(answer.support, 4),
        "citation": citations.sentence_id(answer.chunk.id, answer.sentence_index),
        "page": answer.chunk.page,
    }


def field_answer_json(kind: str, article: Article, cited: archive.Field, confidence: float) -> dict:
    """A byline, date or page answer: the field as the article record reads it, cited where the page prints it."""
    return {
        "kind": kind, "text": archive.reading(article, kind), "span_confident": True,
        "span_text": cited.text,
        "sentence": cited.text, "highlight": {"start": 0, "end": len(cited.text)},
        "span": {"start": cited.start, "end": cited.end}, "sentence_span": {"start": cited.start, "end": cited.end},
        "confidence": round(confidence, 4), "support": round(confidence, 4), "citation": cited.citation,
        "page": article.page,
        "article": archive.summary(article)}


def passages_json(records: Records, hits: list[Hit], question: str, tokenizer: Tokenizer) -> list[dict]:
    """The passages shown with a reply, each with its citation id, article and the question's words highlighted."""
    words = sorted(set(tokenizer(question)), key=len, reverse=True)  # once for all passages
    return [passage_json(records, hit, words, tokenizer) for hit in hits]


def passage_json(records: Records, hit: Hit, words: list[str], tokenizer: Tokenizer) -> dict:
    chunk = hit.chunk
    return {
        "citation": chunk.id,
        "score": round(hit.score, 4),
        "text": chunk.text,
        "highlights": highlights(chunk, words, tokenizer),
        "article": archive.summary(records.article_of(chunk)),
        "source": {"file": chunk.page, "start": chunk.start, "end": chunk.end},
    }


def highlights(chunk: Chunk, words: list[str], tokenizer: Tokenizer) -> list[dict]:
    """Offsets in the passage text of the question's words, longest first (the longest wins overlaps)."""
    prepared = tokenizer.prepare(chunk.text)
    spans: list[tuple[int, int]] = []
    for word in words:
        start = prepared.find(word)
        while start >= 0:
            end = start + len(word)
            if not any(a < end and start < b for a, b in spans):
                spans.append((start, end))
            start = prepared.find(word, end)
    return [{"start": a, "end": b, "text": chunk.text[a:b]} for a, b in sorted(spans)]


def article_json(records: Records, article: Article) -> dict:
    """An article's whole record: its summary, body, place in the page file, passage ids and parser warnings."""
    chunks = [chunk.id for chunk in records.article_passages(article.id)[1]]
    return archive.summary(article) | {
        "body": article.body,
        "source": {"file": article.page, "start": article.body_start, "end": article.body_end},
        "passages": chunks,
        "warnings": list(article.warnings),
    }


def citation_json(records: Records, citation_id: str) -> dict:
    """A passage id cites the whole passage, a sentence id one of its sentences, a field id that part of the
    article record as printed (qa.ingest.citations); only the ids the service hands out are found."""
    cited = citations.parse(citation_id)
    field = _cited_field(records, cited) if cited and cited.kind == citations.FIELD else None
    if field is not None:  # the passage shown with it: the article's passage nearest the field
        chunk = min(article_chunks(records, field.article.id),
                    key=lambda c: max(c.start - field.end, field.start - c.end, 0))
        cited_span = Span(field.text, field.start, field.end)
        article = field.article
    else:
        passage = records.cited(cited.passage) if cited and cited.passage else None  # passage and sentence ids
        chunk = passage and passage.chunk
        if not chunk or (cited.sentence is not None and cited.sentence >= len(chunk.sentences)):
            raise NotFound(f"no citation with id {quoted(citation_id)}")
        start, end = chunk.sentences[cited.sentence] if cited.sentence is not None else (0, len(chunk.text))
        cited_span = raw_span(chunk, passage.raw, start, end)
        article = records.article(chunk.article_id)
    raw = records.page(chunk.page)
    if raw is None or article is None:  # an update removed the page since the passage was read
        raise NotFound(f"no citation with id {quoted(citation_id)}")
    p_start, p_end = paragraph_bounds(raw, cited_span.start, cited_span.end)
    return {
        "id": citation_id,
        "article": article_json(records, article),
        "passage": {"id": chunk.id, "text": chunk.text, "source": {"file": chunk.page, "start": chunk.start, "end": chunk.end}},
        "paragraph": {"text": raw[p_start:p_end], "source": {"file": chunk.page, "start": p_start, "end": p_end}},
        "span": {"text": cited_span.text, "raw": raw[cited_span.start:cited_span.end], "start": cited_span.start,
                 "end": cited_span.end},
    }


def _cited_field(records: Records, cited: citations.Cited) -> archive.Field | None:
    """The record field a field id names (None for an article not in the archive; 404 for a field the article
    does not print)."""
    article = records.article(cited.article)
    if article is None:
        return None
    field = archive.field(article, cited.field, page_text(records, article.page))
    if field is None:
        raise NotFound(f"article {quoted(article.id)} prints no {cited.field}")
    return field


def page_text(records: Records, name: str) -> str:
    """The raw text of a page an article of this request is on."""
    raw = records.page(name)
    if raw is None:  # a shared store's update removed it since the search
        raise StoreUnavailable.gone(name)
    return raw


def article_chunks(records: Records, article_id: str) -> list[Chunk]:
    """The passages of an article of this request."""
    chunks = records.article_passages(article_id)[1]
    if not chunks:  # a shared store's update removed them since the search (or an article with an empty body)
        raise StoreUnavailable.gone(article_id)
    return chunks


def paragraph_bounds(raw: str, start: int, end: int) -> tuple[int, int]:
    """The raw paragraph (between blank lines) around a span; a span over several gives all of them."""
    breaks = [(m.start(), m.end()) for m in _PARAGRAPH_BREAK.finditer(raw)]
    p_start = max((b for a, b in breaks if b <= start), default=0)
    p_end = min((a for a, b in breaks if a >= end), default=len(raw))
    return p_start, p_end


def reply_text(answer: dict | None, passages: list[dict], refusal: str) -> str:
    """The assistant's message: the short answer and its sentence marked [n] (or, when the short answer is
    uncertain, the sentence with the likeliest span in bold), a list answer's articles one per line, then the
    other sources.

    n is the 1-based position of the cited passage in `passages` (the reply's citations list): for an answer
    from an article record (byline, date, page), the first passage of that article.
    """
    lines = []
    cited = _cited_passage(answer, passages) if answer else None
    marker = f"[{cited}]" if cited else ""
    if answer is None:
        lines.append(refusal)
    elif answer["kind"] == "list":
        first, shown, total = answer["offset"] + 1, len(answer["items"]), answer["total"]
        part = f"，这里是第{first}–{first + shown - 1}篇" if shown and shown < total else ""
        lines.append(f"共{total}篇报道{part}：" if shown else f"共{total}篇报道，第{first}篇起没有了。")
        if shown:
            lines.append("\n".join(f"{n}. 《{item['title']}》（{item['article']['page']}）"
                                   for n, item in enumerate(answer["items"], first)))
    elif answer["span_confident"]:
        lines.append(f"{answer['text']}{marker}")
        if answer["sentence"] != answer["text"]:
            lines.append(f"原文：“{answer['sentence']}”")
    else:  # not sure of the short answer: the sentence, the likeliest span in bold (Markdown)
        sentence, a, b = answer["sentence"], answer["highlight"]["start"], answer["highlight"]["end"]
        lines.append(f"原文{marker}：“{sentence[:a]}**{sentence[a:b]}**{sentence[b:]}”")
    others: dict[str, str] = {}  # title -> its markers, one entry per article
    for n, p in enumerate(passages, 1):
        if n != cited:
            title = p["article"]["title"] or p["source"]["file"]
            others[title] = others.get(title, "") + f"[{n}]"
    if others:
        lines.append(("相关报道：" if answer else "最接近的报道：") + "、".join(f"《{t}》{m}" for t, m in others.items()))
    return "\n\n".join(lines)


def _cited_passage(answer: dict, passages: list[dict]) -> int | None:
    if answer["kind"] == "list":
        return None
    if answer["kind"] == "fact":
        return next((n for n, p in enumerate(passages, 1) if citations.is_sentence_of(answer["citation"], p["citation"])),
                    None)
    return next((n for n, p in enumerate(passages, 1) if p["article"]["id"] == answer["article"]["id"]), None)
