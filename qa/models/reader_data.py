"""The reader's training data: real questions of the public QA sets (minus a held-back share of their documents),
no-answer examples and synthetic cloze questions."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

# The training sets (CC BY-SA, read from ../shared/bench by path). Of each, the documents `held_back` picks are
# never trained on (nor used as no-answer passages): the answer's models and thresholds are fitted on them
# (benchmarks/calibrate.py). CMRC 2018 dev is the held-out set: never read here.
TRAIN_SETS = ("cmrc2018_train", "cmrc2018_trial", "drcd_dev_articles", "xquad_zh")
# Each set's source and licence: both licences ask for attribution (the card and README name them).
SOURCES = {
    "cmrc2018_train": "CMRC 2018 training set (ymcui/cmrc2018, from ymcui/expmrc's copy), CC BY-SA 4.0",
    "cmrc2018_trial": "CMRC 2018 trial set (ymcui/cmrc2018), CC BY-SA 4.0",
    "drcd_dev_articles": "DRCD dev set (DRCKnowledgeTeam/DRCD), CC BY-SA 3.0",
    "xquad_zh": "XQuAD, Chinese part (google-deepmind/xquad), CC BY-SA 4.0",
}
HELD_BACK_SHARE = 0.15
# Converted with opencc t2s (offsets kept: only same-length conversions) only when asked: kept traditional, DRCD
# trained a slightly better reader (BENCHMARKS.md, Answers); the tokenizer reads both scripts.
TRADITIONAL = ("drcd_dev_articles",)
WINDOW_CHARS = (60, 230)  # a training window's length is drawn from this range (serving windows are ~160)
NEGATIVE_SHARE = 0.3  # per question, the chance of each kind of no-answer example
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")


def held_back(set_name: str, doc_id: str) -> bool:
    """True for the documents of a training set kept out of training, for the calibration (HELD_BACK_SHARE of
    each set, chosen by a hash of the set's name and the document's id)."""
    digest = hashlib.sha256(f"{set_name}/{doc_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") < HELD_BACK_SHARE * 2**32


@dataclass(frozen=True)
class Example:
    question: str
    window: str
    answer: tuple[int, int] | None  # character offsets in the window; None: no answer


def sentences(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for piece in _SENTENCE_END.split(text):
        if piece:
            out.append((start, start + len(piece)))
            start += len(piece)
    return out


def load_questions(bench: Path, name: str, to_simplified=None) -> tuple[dict[str, str], list[dict]]:
    """The training documents (id -> text) of a set and their questions (the held-back ones left out);
    traditional sets converted where lengths are kept."""
    convert = to_simplified if name in TRADITIONAL and to_simplified else (lambda t: t)
    docs = {}
    for doc in read_jsonl(bench / name / "corpus.jsonl"):
        if held_back(name, str(doc["id"])):
            continue
        converted = convert(doc["text"])
        docs[str(doc["id"])] = converted if len(converted) == len(doc["text"]) else doc["text"]
    questions = []
    for q in read_jsonl(bench / name / "questions.jsonl"):
        doc_id = str(q["doc_id"])
        if doc_id not in docs:
            continue
        text = docs[doc_id]
        answers = [(s, convert(a)) for a, s in zip(q["answers"], q["answer_starts"]) if a.strip()]
        answers = [(s, a) for s, a in answers if text[s : s + len(a)] == a]
        if answers:
            questions.append({"question": convert(q["question"]), "doc_id": doc_id, "answers": answers})
    return docs, questions


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file (a QA set's corpus.jsonl or questions.jsonl), the file closed."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def window_around(text: str, spans: list[tuple[int, int]], at: int, size: int, rng: random.Random,
                  skip: set[int] = frozenset()) -> tuple[int, int, list[int]]:
    """Whole sentences around sentence `at` (grown on random sides) up to `size` characters, minus `skip`:
    (start, end, kept sentence indexes)."""
    left = right = at
    total = spans[at][1] - spans[at][0]
    while True:
        options = [i for i in (left - 1, right + 1) if 0 <= i < len(spans)]
        options = [i for i in options if total + spans[i][1] - spans[i][0] <= size]
        if not options:
            break
        i = rng.choice(options)
        left, right = min(left, i), max(right, i)
        total += spans[i][1] - spans[i][0]
    kept = [i for i in range(left, right + 1) if i not in skip]
    return spans[left][0], spans[right][1], kept


def examples_for(q: dict, text: str, other: str | None, rng: random.Random,
                 window_chars: tuple[int, int] = WINDOW_CHARS) -> list[Example]:
    """The positive example of a question and, by chance, its two kinds of no-answer example."""
    start, answer = q["answers"][0]
    end = start + len(answer)
    spans = sentences(text)
    at = next(i for i, (a, b) in enumerate(spans) if a <= start < b)
    size = rng.randint(*window_chars)
    a, b, _ = window_around(text, spans, at, size, rng)
    if end > b or b - a > size:  # one long sentence, or an answer past its end: cut characters around the answer
        a = max(0, start - rng.randint(0, max(0, size - len(answer))))
        b = max(end, a + size)
    out = [Example(q["question"], text[a:b], (start - a, end - a))]
    golds = [g for _, g in q["answers"]]
    if rng.random() < NEGATIVE_SHARE and len(spans) > 1:
        holds = {i for i, (x, y) in enumerate(spans) if x < end and start < y}
        near = min(max(0, at + rng.choice((-1, 1))), len(spans) - 1)
        if near not in holds:
            _, _, kept = window_around(text, spans, near, size, rng, skip=holds)
            window = "".join(text[spans[i][0] : spans[i][1]] for i in kept)
            if window.strip() and not any(g in window for g in golds):
                out.append(Example(q["question"], window, None))
    if other and rng.random() < NEGATIVE_SHARE and not any(g in other for g in golds):
        out.append(Example(q["question"], other[:size], None))
    return out


def other_passages(questions: list[dict], docs: dict[str, str], tokenizer) -> list[str | None]:
    """For each question, the passage of another document that BM25 ranks highest (a hard no-answer case);
    `docs` are the training documents only, so that no held-back document is ever trained on."""
    import bm25s

    passages, owners = [], []
    for doc_id, text in docs.items():
        spans = sentences(text)
        i = 0
        while i < len(spans):
            a, b = spans[i][0], spans[i][1]
            i += 1
            while i < len(spans) and spans[i][1] - a <= 200:
                b = spans[i][1]
                i += 1
            passages.append(text[a:b])
            owners.append(doc_id)
    retriever = bm25s.BM25()
    retriever.index([tokenizer(p) or ["_"] for p in passages], show_progress=False)
    found = []
    for q in questions:
        words = [w for w in tokenizer(q["question"]) if w in retriever.vocab_dict] or None
        if not words:
            found.append(None)
            continue
        ids, _ = retriever.retrieve([words], k=5, show_progress=False)
        found.append(next((passages[i] for i in ids[0] if owners[i] != q["doc_id"]), None))
    return found


# Synthetic questions: a typed span of a training sentence replaced by its interrogative (the span is the answer).
_QUOTED = re.compile(r"《[^《》]{1,20}》|“[^“”]{2,12}”")
_UNIT = re.compile(r"^(?:\d[\d,.]*|[零〇一二两三四五六七八九十百千万亿]+)(?:余|多)?(?:万|亿)?(.*)$")
_CLAUSE = re.compile(r"[,，;；:：]")


def synthetic_examples(docs: dict[str, str], count: int, rng: random.Random, tagged,
                       window_chars: tuple[int, int] = WINDOW_CHARS) -> list[Example]:
    """Up to `count` cloze questions from the documents' sentences (never from a held-out set's): a number with
    its unit (多少+unit), a date (什么时候) or a quoted name (什么) is replaced by its interrogative in its clause
    and the one before, then characters are dropped or the clause order swapped, as real questions do. Persons
    and places are left out: jieba's tags cut transliterated names short (华伦海 of 华伦海特), which would
    teach the reader wrong boundaries."""
    from qa.language.qtype import DATE, NUMBER, type_spans

    out = []
    items = list(docs.values())
    rng.shuffle(items)
    for text in items:
        spans = sentences(text)
        for at in rng.sample(range(len(spans)), len(spans)):
            a, b = spans[at]
            sentence = text[a:b]
            for kind in (NUMBER, DATE, "quoted"):  # at most one question of each kind per sentence
                found = ([m.span() for m in _QUOTED.finditer(sentence)] if kind == "quoted"
                         else type_spans(sentence, kind, tagged))
                found = [(x, y) for x, y in found if 2 <= y - x <= 20]
                if not found:
                    continue
                x, y = rng.choice(found)
                unit = _UNIT.match(sentence[x:y]) if kind == NUMBER else None
                asked = "多少" + (unit.group(1) if unit else "") if kind == NUMBER else "什么时候" if kind == DATE else "什么"
                question = _cloze(sentence, x, y, asked, rng)
                if not question:
                    continue
                start, end, _ = window_around(text, spans, at, rng.randint(*window_chars), rng)
                if end - start <= window_chars[1] + 60:
                    out.append(Example(question, text[start:end], (a + x - start, a + y - start)))
                if len(out) >= count:
                    return out
    return out


def _cloze(sentence: str, x: int, y: int, asked: str, rng: random.Random) -> str | None:
    """The clause holding [x, y) (and the clause before it) as a question, with paraphrase noise."""
    cuts = [0] + [m.end() for m in _CLAUSE.finditer(sentence)] + [len(sentence)]
    first = max(0, max(i for i, c in enumerate(cuts) if c <= x) - 1)
    last = min(i for i, c in enumerate(cuts) if c >= y)
    if last <= first:
        return None
    parts = [sentence[cuts[first] : x], asked, sentence[y : cuts[last]]]
    question = re.sub(r"[\s。！？!?；;,，:：]+$", "", "".join(parts))
    if len(question) < len(asked) + 6:
        return None
    words = re.split(r"([,，])", question)
    if rng.random() < 0.2 and len(words) >= 3:  # the clause order swapped
        question = "".join(words[2:]) + "，" + words[0]
    if rng.random() < 0.5:  # a few characters of context dropped, away from the interrogative
        at = question.find(asked)
        cut = rng.choice([i for i in range(len(question) - 2) if not at - 3 <= i <= at + len(asked)] or [None])
        if cut is not None:
            question = question[:cut] + question[cut + rng.randint(1, 2):]
    return question + "？"


def make_examples(bench: Path, limit: int | None, seed: int, synthetic: int = 0, to_simplified: bool = False,
                  window_chars: tuple[int, int] = WINDOW_CHARS) -> tuple[list[Example], dict]:
    """Training examples from TRAIN_SETS, and a description of the data (sizes and sha256 of each file)."""
    import opencc

    from qa.language.tokenize import Tokenizer

    rng = random.Random(seed)
    tokenizer, convert = Tokenizer(), opencc.OpenCC("t2s").convert if to_simplified else None
    examples, described = [], {}
    for name in TRAIN_SETS:
        docs, questions = load_questions(bench, name, convert)
        others = other_passages(questions, docs, tokenizer)
        for q, other in zip(questions, others):
            examples.extend(examples_for(q, docs[q["doc_id"]], other, rng, window_chars))
        made = (synthetic_examples(docs, synthetic // len(TRAIN_SETS), rng, tokenizer.tagged, window_chars)
                if synthetic else [])
        examples.extend(made)
        described[name] = {"source": SOURCES[name], "documents": len(docs), "questions": len(questions),
                           "synthetic_questions": len(made),
                           "sha256": {f: file_sha256(bench / name / f) for f in ("corpus.jsonl", "questions.jsonl")}}
    rng.shuffle(examples)
    if limit:
        examples = examples[:limit]
    return examples, described


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
