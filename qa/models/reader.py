"""The reader: scores answer spans, and no answer, of a question in passage windows (ONNX Runtime, no torch)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.models.export import READER_WEIGHTS

BOS, EOS = 0, 2  # <s>, </s> of the e5 (XLM-R) vocabulary; a pair is <s> question </s></s> window </s>
MAX_QUESTION_TOKENS = 48
MAX_TOKENS = 192  # one input: question, window and the four special tokens
MAX_ANSWER_TOKENS = 24
MAX_ANSWER_CHARS = 40
TOP_N = 20  # start and end positions tried per window
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Encoded:
    """One model input: token ids, the window's character offsets of each token ((0, 0) for the question and
    special tokens) and the marks (1 where a window token also occurs in the question)."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    marks: list[int]
    first: int  # index of the window's first token

    def token_of(self, char: int) -> int | None:
        """The window token holding character `char` of the window."""
        for i in range(self.first, len(self.ids) - 1):
            a, b = self.offsets[i]
            if a <= char < b:
                return i
        return None


def encode(tokenizer, question: str, window: str, max_tokens: int = MAX_TOKENS) -> Encoded:
    """The model input for a question and one passage window (the window is cut to fit `max_tokens`)."""
    q = tokenizer.encode(question, add_special_tokens=False)
    w = tokenizer.encode(window, add_special_tokens=False)
    q_ids = q.ids[:MAX_QUESTION_TOKENS]
    room = max_tokens - len(q_ids) - 4
    w_ids, w_offsets = w.ids[:room], w.offsets[:room]
    asked = {i for i, token in zip(q.ids, q.tokens) if _WORD.search(token.lstrip("\u2581"))}
    ids = [BOS, *q_ids, EOS, EOS, *w_ids, EOS]
    first = len(q_ids) + 3
    # A lone U+2581 (the word-start marker) holds no character of the window: it is never a span boundary.
    offsets = [(0, 0)] * first + [(a, a) if t == "\u2581" else (a, b) for t, (a, b) in zip(w.tokens, w_offsets)]
    offsets.append((0, 0))
    marks = [0] * first + [int(i in asked) for i in w_ids] + [0]
    return Encoded(ids, offsets, marks, first)


def batch_arrays(encoded: list[Encoded]) -> dict[str, np.ndarray]:
    """The ONNX (and torch) inputs of a batch, padded to its longest input."""
    length = max(len(e.ids) for e in encoded)
    ids = np.ones((len(encoded), length), dtype=np.int64)  # 1: <pad>
    mask = np.zeros_like(ids)
    marks = np.zeros_like(ids)
    for row, e in enumerate(encoded):
        n = len(e.ids)
        ids[row, :n], mask[row, :n], marks[row, :n] = e.ids, 1, e.marks
    return {"input_ids": ids, "attention_mask": mask, "marks": marks}


@dataclass(frozen=True)
class SpanScore:
    """A candidate answer: character offsets in its window and the reader's scores."""

    start: int
    end: int
    score: float  # start logit + end logit
    null: float  # the window's no-answer score (the same sum at <s>)


def spans(e: Encoded, start: np.ndarray, end: np.ndarray, keep: int = 5) -> list[SpanScore]:
    """The `keep` best spans of one window (at most MAX_ANSWER_TOKENS tokens and MAX_ANSWER_CHARS characters)."""
    last = len(e.ids) - 1  # the closing </s>
    if last <= e.first:
        return []
    s, t = start[e.first : last], end[e.first : last]
    starts = np.argsort(-s)[:TOP_N]
    ends = np.argsort(-t)[:TOP_N]
    null = float(start[0] + end[0])
    found = []
    for i in starts:
        for j in ends:
            if j < i or j - i >= MAX_ANSWER_TOKENS:
                continue
            a, b = e.offsets[e.first + i][0], e.offsets[e.first + j][1]
            if 0 < b - a <= MAX_ANSWER_CHARS:
                found.append(SpanScore(a, b, float(s[i] + t[j]), null))
    found.sort(key=lambda x: -x.score)
    return found[:keep]


class Reader:
    """The served reader: one ONNX Runtime session (built once by qa.models.export.ensure_onnx) and the tokenizer."""

    def __init__(self, onnx_file: Path, tokenizer, threads: int = 1):
        """`tokenizer`: the model's (qa.models.dense.text_tokenizer), shared with the encoder; not truncating."""
        from qa.models.dense import onnx_session

        self.session = onnx_session(onnx_file, threads)
        self.tokenizer = tokenizer

    def read(self, question: str, windows: list[str], keep: int = 5) -> list[list[SpanScore]]:
        """Every window's best spans (each with its window's no-answer score), in one batch."""
        if not windows:
            return []
        encoded = [encode(self.tokenizer, question, w) for w in windows]
        start, end = self.session.run(["start_logits", "end_logits"], batch_arrays(encoded))
        return [spans(e, start[i], end[i], keep) for i, e in enumerate(encoded)]


def load_reader(model_path: Path, fingerprint: str, threads: int = 1, int8: bool = False,
                weights: Path = READER_WEIGHTS, tokenizer=None) -> Reader:
    """The served reader: exported with the encoder from the base model and `weights` (qa.models.export.ensure_onnx).
    Float32 by default: the int8 model lost more than a point of F1 (BENCHMARKS.md, "Answers")."""
    from qa.models.dense import text_tokenizer
    from qa.models.export import READER_FILE, READER_INT8_FILE, ensure_onnx

    folder = ensure_onnx(model_path, fingerprint, weights)
    return Reader(folder / (READER_INT8_FILE if int8 else READER_FILE), tokenizer or text_tokenizer(model_path), threads)
