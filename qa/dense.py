"""Dense embeddings: a sentence-transformers encoder with e5 prefixes and a content-hash cache."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np


class Encoder:
    """Encodes questions and passages into L2-normalised vectors."""

    def __init__(self, model_path: Path, query_prefix: str, passage_prefix: str, threads: int = 2,
                 query_threads: int = 1, query_cache: int = 1024):
        # Models are local folders: never ask a hub (there is none on our machines).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch  # heavy imports only when a model is really used
        from sentence_transformers import SentenceTransformer

        # torch's thread count is process-wide. Batches of passages (index builds) use `threads`; the
        # single-question forward passes of serving use `query_threads`: measured on 2 cores, one
        # thread is faster for one question (38 vs 44 ms median) and leaves the other core to the
        # server's other requests instead of spinning against them.
        self._torch, self.threads, self.query_threads = torch, threads, query_threads
        torch.set_num_threads(query_threads)
        self.model = SentenceTransformer(str(model_path), device="cpu")
        self.name = Path(model_path).name
        self.fingerprint = fingerprint(Path(model_path))
        self.dim = self.model.get_embedding_dimension()
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.encode_query = functools.lru_cache(maxsize=query_cache)(self._encode_query)

    def _encode_query(self, question: str) -> np.ndarray:
        vector = self.model.encode([self.query_prefix + question], normalize_embeddings=True,
                                   show_progress_bar=False)[0]
        vector.setflags(write=False)  # shared by the cache: never modified in place
        return vector

    def encode_passages(self, passages: list[str], progress: bool = False, cache: "EmbeddingCache | None" = None) -> np.ndarray:
        texts = [self.passage_prefix + p for p in passages]
        if cache is None:
            return self._encode(texts, progress)
        return cache.get_or_encode(texts, lambda missing: self._encode(missing, progress))

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._torch.set_num_threads(self.threads)
        try:
            return self.model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=progress,
                                     convert_to_numpy=True).astype(np.float32)
        finally:
            self._torch.set_num_threads(self.query_threads)


def fingerprint(model_path: Path) -> str:
    """Folder name plus a short hash of the model's config files and weights (size, first and last MiB).

    Two different models never share cached vectors or an index, even in folders of the same name;
    sampling the weights keeps this well under a second for a 470 MB file.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in model_path.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(model_path)).encode())
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
        tmp = self.path.with_suffix(".tmp.npz")
        keys = np.array(list(self._table.keys()), dtype="S32")
        np.savez(tmp, keys=keys, vectors=np.stack(list(self._table.values())).astype(np.float32))
        tmp.replace(self.path)
