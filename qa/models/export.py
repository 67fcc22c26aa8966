"""ONNX export of the sentence-transformers model, once per model: the only place torch is needed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import warnings
from pathlib import Path

from tqdm import tqdm

from qa.errors import ModelError

# Where sentence-transformers itself keeps an ONNX export inside a model folder.
ONNX_FOLDER = "onnx"
ONNX_FILE = "model.onnx"  # float32: passages (index builds); its weights are beside it in model.onnx.data
QUERY_FILE = "model_qint8.onnx"  # int8 weights of the matrix products: questions (serving); see quantize()
SOURCE_FILE = "source.json"  # the fingerprint of the model the export was made from; written last
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "sentence_embedding"
READER_FOLDER = "reader"  # beside ONNX_FOLDER in the model folder
READER_FILE = "reader.onnx"
READER_INT8_FILE = "reader_qint8.onnx"
READER_INPUTS = ("input_ids", "attention_mask", "marks")
READER_OUTPUTS = ("start_logits", "end_logits")
EXPORTER_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")
log = logging.getLogger(__name__)


def ensure_onnx(model_path: Path, fingerprint: str) -> Path:
    """The folder of a model's ONNX files, exported (with torch) when missing or made from other weights."""

    def build(tmp: Path) -> None:
        export(Path(model_path), tmp / ONNX_FILE)
        quantize(tmp / ONNX_FILE, tmp / QUERY_FILE)

    return _ensure(Path(model_path) / ONNX_FOLDER, fingerprint, build, f"exporting {model_path} to ONNX (once per model, about a minute)")


def exported(model_path: Path, fingerprint: str, weights: Path) -> bool:
    """Whether both ONNX folders are there, made from this model and these reader weights (nothing to export)."""
    return (_source(Path(model_path) / ONNX_FOLDER) == fingerprint
            and _source(Path(model_path) / READER_FOLDER) == _reader_key(fingerprint, weights))


def _reader_key(fingerprint: str, weights: Path) -> str:
    return f"{fingerprint}+{hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:16]}"


def ensure_reader(model_path: Path, fingerprint: str, weights: Path) -> Path:
    """The folder of the reader's ONNX files: the base model's lower layers and the trained parameters file
    (`qa/models/weights/reader.safetensors`), exported once per pair, float32 and int8."""
    key = _reader_key(fingerprint, weights)

    def build(tmp: Path) -> None:
        with tqdm(total=2, desc="reader model", unit="step") as bar:
            export_reader(Path(model_path), Path(weights), tmp / READER_FILE)
            bar.update()
            quantize(tmp / READER_FILE, tmp / READER_INT8_FILE)
            bar.update()

    return _ensure(Path(model_path) / READER_FOLDER, key, build, "building the reader model (once, under a minute)")


def _ensure(folder: Path, key: str, build, message: str) -> Path:
    """`folder`, (re)built by `build(tmp_folder)` unless its source file names `key`; swapped in whole."""
    if _source(folder) == key:
        return folder
    log.info(message)
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
    try:
        tmp.mkdir()
        build(tmp)
        (tmp / SOURCE_FILE).write_text(json.dumps({"fingerprint": key, "exporter": "qa.models.export"}) + "\n")
        if folder.exists():  # an export of other weights, or an unfinished one
            folder.rename(old)
        tmp.rename(folder)
    except OSError as error:
        if _source(folder) != key:  # not a concurrent process that finished first
            raise ModelError(f"could not write the ONNX export {folder}: {error}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return folder


def _source(folder: Path) -> str | None:
    try:
        return json.loads((folder / SOURCE_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def export(model_path: Path, out: Path) -> None:
    """Write the whole sentence-transformers pipeline (transformer, pooling, normalisation) as one ONNX graph:
    token ids and attention mask in (batch and length dynamic), the sentence embedding out.

    The weights go to a file of their own beside the graph: ONNX Runtime maps that file into memory
    instead of copying it, so a session opens in 0.2 s instead of 1.8 s and the pages are shared.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask a hub
    import torch
    from sentence_transformers import SentenceTransformer

    # Eager attention: the SDPA path takes shortcuts decided on the example's mask, which a graph would freeze.
    model = SentenceTransformer(str(model_path), device="cpu", model_kwargs={"attn_implementation": "eager"}).eval()

    class Pipeline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    # An example with padding, so the mask is really used; both dimensions stay dynamic.
    ids = torch.full((2, 16), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=model.max_seq_length)
    _onnx_export(Pipeline(), (ids, mask), INPUTS, [OUTPUT], ({0: batch, 1: length},) * 2, out)


def export_reader(model_path: Path, weights: Path, out: Path) -> None:
    """Write the reader (qa.models.reader_net.Reader: the base model's lower layers, the trained upper part) as one
    ONNX graph: ids, mask and question-word marks in, start and end logits per token out."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from qa.models.reader_net import Reader, base_lower, load_upper

    upper, lower_layers = load_upper(weights)
    net = Reader(base_lower(model_path, lower_layers), upper).eval()
    ids = torch.full((2, 16), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    marks = torch.zeros_like(ids)
    marks[0, 12] = 1
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=512)
    _onnx_export(net, (ids, mask, marks), READER_INPUTS, READER_OUTPUTS, ({0: batch, 1: length},) * 3, out)


def _onnx_export(module, example, inputs, outputs, dynamic_shapes, out: Path) -> None:
    import torch

    for name in EXPORTER_LOGGERS:  # every graph rewrite at INFO, "torchvision is not installed" at WARNING
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # The exporter's own notices (deprecations inside torch, unused axis names) are not ours to fix;
        # pytest would turn them into errors on a machine that exports for the first time.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, example, dynamo=True, verbose=False, input_names=list(inputs),
                                    output_names=list(outputs), dynamic_shapes=dynamic_shapes)
        program.save(str(out), external_data=True)


def quantize(model: Path, out: Path) -> None:
    """Dynamic int8 quantisation of the matrix products' weights, one scale per output channel; the word
    embeddings stay float32. A question encodes in 13 ms instead of 21 (one thread), its vector within
    cosine 0.99 of the float32 one, and retrieval within 0.1 point of hit@1 (BENCHMARKS.md). Passages keep
    the float32 model: the index's vectors are exact, and so is the embedding cache shared with builds."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()  # the quantiser logs every tensor it looks at through the root logger
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        quantize_dynamic(model, out, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
                         use_external_data_format=True)
    finally:
        root.setLevel(level)
    weights = out.with_name(out.name + ".data")  # written private (0600): give it the mode of the graph file
    os.chmod(weights, out.stat().st_mode & 0o777)
