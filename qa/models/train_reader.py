"""`python -m qa train-reader`: fine-tunes the reader's upper layers on public QA sets, on cached lower states.

Longer than 400 lines (by a few): the training data (real, no-answer and synthetic questions), the cache of the
frozen states and the loop are one reproducible recipe whose card records all of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.models.reader import MAX_TOKENS, Encoded, batch_arrays, encode

log = logging.getLogger(__name__)

# The training sets (CC BY-SA, read from ../shared/bench by path) and the split of CMRC 2018 trial: its
# documents of one half (by a hash of the id) train the reader, the other half is kept for fitting the
# confidence and choosing thresholds (qa.calibrate). CMRC 2018 dev is the held-out set: never read here.
TRAIN_SETS = ("cmrc2018_trial", "drcd_dev_articles")
# Converted with opencc t2s (offsets kept: only same-length conversions) only when asked: kept traditional, DRCD
# trained a slightly better reader (BENCHMARKS.md, Answers); the tokenizer reads both scripts.
TRADITIONAL = ("drcd_dev_articles",)
LOWER_LAYERS, UPPER_LAYERS = 2, 6
WINDOW_CHARS = (60, 230)  # a training window's length is drawn from this range (serving windows are ~160)
NEGATIVE_SHARE = 0.3  # per question, the chance of each kind of no-answer example
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")


def calibration_half(doc_id: str) -> bool:
    """True for the CMRC 2018 trial documents kept out of training (for the confidence fit)."""
    return hashlib.sha256(doc_id.encode()).digest()[0] % 2 == 1


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
    """Documents (id -> text) and questions of a set; traditional sets converted where lengths are kept."""
    convert = to_simplified if name in TRADITIONAL and to_simplified else (lambda t: t)
    docs = {}
    for line in (bench / name / "corpus.jsonl").open(encoding="utf-8"):
        doc = json.loads(line)
        converted = convert(doc["text"])
        docs[str(doc["id"])] = converted if len(converted) == len(doc["text"]) else doc["text"]
    questions = []
    for line in (bench / name / "questions.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        doc_id = str(q["doc_id"])
        if name == "cmrc2018_trial" and calibration_half(doc_id):
            continue
        text = docs[doc_id]
        answers = [(s, convert(a)) for a, s in zip(q["answers"], q["answer_starts"]) if a.strip()]
        answers = [(s, a) for s, a in answers if text[s : s + len(a)] == a]
        if answers:
            questions.append({"question": convert(q["question"]), "doc_id": doc_id, "answers": answers})
    return docs, questions


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


def examples_for(q: dict, text: str, other: str | None, rng: random.Random) -> list[Example]:
    """The positive example of a question and, by chance, its two kinds of no-answer example."""
    start, answer = q["answers"][0]
    end = start + len(answer)
    spans = sentences(text)
    at = next(i for i, (a, b) in enumerate(spans) if a <= start < b)
    size = rng.randint(*WINDOW_CHARS)
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
    """For each question, the passage of another document that BM25 ranks highest (a hard no-answer case)."""
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


def synthetic_examples(docs: dict[str, str], count: int, rng: random.Random, tagged) -> list[Example]:
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
                start, end, _ = window_around(text, spans, at, rng.randint(*WINDOW_CHARS), rng)
                if end - start <= WINDOW_CHARS[1] + 60:
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


def make_examples(bench: Path, limit: int | None, seed: int, synthetic: int = 0,
                  to_simplified: bool = False) -> tuple[list[Example], dict]:
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
            examples.extend(examples_for(q, docs[q["doc_id"]], other, rng))
        if name == "cmrc2018_trial":  # its held-back half gives no synthetic questions either
            docs = {i: t for i, t in docs.items() if not calibration_half(i)}
        made = synthetic_examples(docs, synthetic // len(TRAIN_SETS), rng, tokenizer.tagged) if synthetic else []
        examples.extend(made)
        described[name] = {"questions": len(questions), "synthetic_questions": len(made),
                           "sha256": {f: _sha256(bench / name / f) for f in ("corpus.jsonl", "questions.jsonl")}}
    rng.shuffle(examples)
    if limit:
        examples = examples[:limit]
    return examples, described


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Prepared:
    """Encoded examples with their cached lower-layer states and span targets (token indexes; 0 = no answer)."""

    encoded: list[Encoded]
    states: list[np.ndarray]  # float16, (length, hidden)
    targets: list[tuple[int, int]]


def prepare(examples: list[Example], tokenizer, lower, batch: int = 32, progress: bool = True) -> Prepared:
    import torch
    from tqdm import tqdm

    encoded, targets = [], []
    for ex in examples:
        e = encode(tokenizer, ex.question, ex.window, MAX_TOKENS)
        target = (0, 0)
        if ex.answer:
            s, t = e.token_of(ex.answer[0]), e.token_of(ex.answer[1] - 1)
            if s is None or t is None:
                continue  # the answer was cut off by the token limit
            target = (s, t)
        encoded.append(e)
        targets.append(target)
    states: list[np.ndarray] = [None] * len(encoded)  # type: ignore[list-item]
    order = np.argsort([len(e.ids) for e in encoded], kind="stable")
    with torch.inference_mode(), tqdm(total=len(encoded), desc="lower layers", disable=not progress) as bar:
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            arrays = batch_arrays([encoded[i] for i in rows])
            h = lower(torch.from_numpy(arrays["input_ids"]), torch.from_numpy(arrays["attention_mask"]))
            for k, i in enumerate(rows):
                states[i] = h[k, : len(encoded[i].ids)].to(torch.float16).numpy()
            bar.update(len(rows))
    return Prepared(encoded, states, targets)


def train(prepared: Prepared, upper, epochs: int, lr: float, batch: int, seed: int, log_every: int = 20) -> list[float]:
    """Trains `upper` in place; the mean loss of every `log_every` steps."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    head = [p for n, p in upper.named_parameters() if not n.startswith("layer.")]
    body = [p for n, p in upper.named_parameters() if n.startswith("layer.")]
    optimiser = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": lr * 5}], weight_decay=0.01)
    n = len(prepared.encoded)
    steps = epochs * ((n + batch - 1) // batch)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    upper.train()
    losses, window, started = [], [], time.perf_counter()
    step = 0
    for epoch in range(epochs):
        for rows in _batches(prepared, batch, rng):
            h, mask, marks, allowed, starts, ends = _tensors(prepared, rows)
            start_logits, end_logits = upper(h, mask, marks)
            start_logits = start_logits.masked_fill(~allowed, -1e4)
            end_logits = end_logits.masked_fill(~allowed, -1e4)
            loss = (torch.nn.functional.cross_entropy(start_logits, starts)
                    + torch.nn.functional.cross_entropy(end_logits, ends)) / 2
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(upper.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            window.append(loss.item())
            if len(window) == log_every or step == steps:
                losses.append(sum(window) / len(window))
                window = []
                log.info("epoch %d step %d/%d loss %.3f %.2f s/step", epoch + 1, step, steps, losses[-1],
                         (time.perf_counter() - started) / step)
    upper.eval()
    return losses


def _batches(prepared: Prepared, batch: int, rng: random.Random):
    """Batches of similar lengths (little padding), in random order."""
    order = list(range(len(prepared.encoded)))
    rng.shuffle(order)
    pool = batch * 50
    batches = []
    for start in range(0, len(order), pool):
        part = sorted(order[start : start + pool], key=lambda i: len(prepared.encoded[i].ids))
        batches += [part[k : k + batch] for k in range(0, len(part), batch)]
    rng.shuffle(batches)
    return batches


def _tensors(prepared: Prepared, rows: list[int]):
    import torch

    encoded = [prepared.encoded[i] for i in rows]
    arrays = batch_arrays(encoded)
    length = arrays["input_ids"].shape[1]
    h = np.zeros((len(rows), length, prepared.states[rows[0]].shape[1]), dtype=np.float32)
    allowed = np.zeros((len(rows), length), dtype=bool)
    for k, (i, e) in enumerate(zip(rows, encoded)):
        h[k, : len(e.ids)] = prepared.states[i]
        allowed[k, 0] = True
        allowed[k, e.first : len(e.ids) - 1] = True
    starts = torch.tensor([prepared.targets[i][0] for i in rows])
    ends = torch.tensor([prepared.targets[i][1] for i in rows])
    return (torch.from_numpy(h), torch.from_numpy(arrays["attention_mask"]), torch.from_numpy(arrays["marks"]),
            torch.from_numpy(allowed), starts, ends)


def save(upper, path: Path, card: dict) -> None:
    """The trained parameters as float16 safetensors, and the JSON card beside them (both written atomically)."""
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in upper.state_dict().items()}, str(tmp),
              metadata={"format": "1", "lower_layers": str(card["lower_layers"]), "upper_layers": str(card["upper_layers"])})
    tmp.replace(path)
    card = card | {"sha256": _sha256(path)}
    card_tmp = path.with_suffix(".json.tmp")
    card_tmp.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    card_tmp.replace(path.with_suffix(".json"))


def run(model_path: Path, bench: Path, out: Path, epochs: int, lr: float, batch: int, seed: int,
        limit: int | None = None, synthetic: int = 0, to_simplified: bool = False, progress: bool = True,
        command: str = "") -> dict:
    """The whole training: examples, cached lower states, the upper layers trained, the file and its card."""
    import torch

    from qa.models.dense import fingerprint, text_tokenizer
    from qa.models.reader_net import base_lower, base_upper

    torch.manual_seed(seed)
    started = time.perf_counter()
    examples, data = make_examples(bench, limit, seed, synthetic, to_simplified)
    tokenizer = text_tokenizer(model_path)
    prepared = prepare(examples, tokenizer, base_lower(model_path, LOWER_LAYERS), progress=progress)
    cached = time.perf_counter() - started
    upper = base_upper(model_path, LOWER_LAYERS, UPPER_LAYERS)
    losses = train(prepared, upper, epochs, lr, batch, seed)
    card = {
        "format": 1,
        "base_model": fingerprint(model_path),  # of this installation (it includes the conversion's time)
        "base_model_safetensors_sha256": _sha256(model_path / "model.safetensors"),  # the same everywhere
        "lower_layers": LOWER_LAYERS,
        "upper_layers": UPPER_LAYERS,
        "max_tokens": MAX_TOKENS,
        "training_data": data,
        "traditional_converted": to_simplified,
        "examples": len(prepared.encoded),
        "no_answer_examples": sum(t == (0, 0) for t in prepared.targets),
        "epochs": epochs, "lr": lr, "batch": batch, "seed": seed,
        "command": command,
        "seconds": {"examples_and_lower_states": round(cached, 1), "total": round(time.perf_counter() - started, 1)},
        "losses": [round(x, 4) for x in losses],
    }
    save(upper, out, card)
    return card
