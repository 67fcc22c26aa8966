"""Word tokens for BM25 and features: opencc traditional->simplified, jieba search mode, stopwords out."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable

import jieba
import jieba.posseg
import opencc
from bm25s.stopwords import STOPWORDS_CHINESE

from qa.language.lexicon import QUESTION_WORDS

_WORD = re.compile(r"\w", re.UNICODE)
# jieba glues interrogatives to what follows (多少岁, 哪些人, 什么样): those carry no content either.
_INTERROGATIVE = re.compile(r"^(?:多少|什么|哪)")
# Texts whose prepared form and POS tags are kept: every request prepares and tags the sentences of its top
# passages again (jieba's tagger costs 1-3 ms a sentence, up to 25 ms a question), and popular passages come back.
TEXT_CACHE = 4096


def _is_word(token: str) -> bool:
    return bool(token.strip()) and bool(_WORD.search(token))


class Tokenizer:
    """Text -> list of word tokens. The splitter is a plain callable (bm25s style), jieba by default."""

    def __init__(
        self,
        splitter: Callable[[str], Iterable[str]] | None = None,
        stopwords: Iterable[str] = STOPWORDS_CHINESE,
        to_simplified: Callable[[str], str] | None = None,
    ):
        self._jieba = jieba.Tokenizer()  # an instance of its own: no global jieba state
        self.splitter = splitter or self._jieba.lcut_for_search
        self.stopwords = frozenset(stopwords) | QUESTION_WORDS
        self.to_simplified = to_simplified or opencc.OpenCC("t2s").convert
        self._pos = jieba.posseg.POSTokenizer(self._jieba)
        self.tagged = functools.lru_cache(maxsize=TEXT_CACHE)(self._tagged)
        self.prepare = functools.lru_cache(maxsize=TEXT_CACHE)(self._prepare)
        self.simplified = functools.lru_cache(maxsize=TEXT_CACHE)(self._simplified)
        # A question is tokenised by the analysis, the search and the highlights of one request: jieba runs once.
        self._tokens = functools.lru_cache(maxsize=TEXT_CACHE)(self._tokenize)

    def _prepare(self, text: str) -> str:
        """NFKC, traditional -> simplified, lower case: the form every token comes from."""
        return self.to_simplified(unicodedata.normalize("NFKC", text)).lower()

    def _simplified(self, text: str) -> str:
        """Traditional -> simplified with every character where it was (offsets stay valid): opencc's conversion
        of the whole text (its phrases convert better) when it keeps the length, else of each character alone
        (one that would change length is kept). What the models read, so that the script does not matter."""
        converted = self.to_simplified(text)
        if len(converted) == len(text):
            return converted
        return "".join(c if len(c := self.to_simplified(ch)) == 1 else ch for ch in text)

    def __call__(self, text: str) -> list[str]:
        return list(self._tokens(text))

    def _tokenize(self, text: str) -> tuple[str, ...]:
        return tuple(t for t in self.splitter(self.prepare(text))
                     if _is_word(t) and t not in self.stopwords and not _INTERROGATIVE.match(t))

    def _tagged(self, text: str) -> tuple[tuple[str, str], ...]:
        """(word, POS flag) pairs covering `text` in order, so offsets stay usable.

        The tagger runs on the simplified form: jieba's dictionary is simplified Chinese, and on
        traditional text its HMM fallback is both slow and poor. opencc t2s keeps the length almost
        always; when it does not, the text is tagged as it is.
        """
        prepared = self.prepare(text)
        if len(prepared) != len(text):
            return tuple((p.word, p.flag) for p in self._pos.lcut(text))
        pairs, pos = [], 0
        for p in self._pos.lcut(prepared):
            pairs.append((text[pos : pos + len(p.word)], p.flag))
            pos += len(p.word)
        return tuple(pairs)
