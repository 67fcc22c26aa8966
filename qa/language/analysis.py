"""Facts about questions and sentences that the re-ranker and the answer extractor compare."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.language.lexicon import QUESTION_WORDS
from qa.language.qtype import TYPES, question_type, type_spans
from qa.language.tokenize import Tokenizer

_NOT_TEXT = re.compile(r"[^\w]+")
_QUESTION_FRAME = re.compile("|".join(sorted(map(re.escape, QUESTION_WORDS), key=len, reverse=True)))


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of the word characters of a text, never across punctuation."""
    grams = set()
    for run in _NOT_TEXT.split(text):
        grams.update(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            grams.add(run)
    return frozenset(grams)


@dataclass(frozen=True)
class Sentence:
    text: str  # prepared form (NFKC, simplified, lower case)
    bigrams: frozenset[str]
    types: frozenset[str]  # answer types found in it


@dataclass(frozen=True)
class AnalysedPassage:
    sentences: tuple[Sentence, ...]
    title: str  # prepared form
    title_bigrams: frozenset[str]


@dataclass(frozen=True)
class Question:
    text: str
    bigrams: frozenset[str]
    words: tuple[tuple[str, float], ...]  # (token, idf) of its content words
    answer_type: str | None  # the type of answer it asks for (qa.language.qtype), if any


def sentence_types(sentence: str, tokenizer: Tokenizer) -> list[str]:
    """Answer types present in a sentence: run at build time (POS tagging is the slow part, done once)."""
    tags = tokenizer.tagged(sentence)
    return [answer_type for answer_type in TYPES if type_spans(sentence, answer_type, lambda _: tags)]


def passage(text: str, spans, types, title: str, tokenizer: Tokenizer) -> AnalysedPassage:
    prepared = [tokenizer.prepare(text[a:b]) for a, b in spans]
    title = tokenizer.prepare(title)
    return AnalysedPassage(
        sentences=tuple(Sentence(p, bigrams(p), frozenset(t)) for p, t in zip(prepared, types)),
        title=title,
        title_bigrams=bigrams(title),
    )


def question(text: str, tokenizer: Tokenizer, idf) -> Question:
    prepared = tokenizer.prepare(text)
    content = _QUESTION_FRAME.sub(" ", prepared)  # interrogatives never appear in the answer
    words = list(dict.fromkeys(tokenizer(text)))
    words = tuple(zip(words, map(float, idf(words))))  # idf: the IDF of each of a list of tokens, in one call
    return Question(prepared, bigrams(content), words, question_type(prepared))
