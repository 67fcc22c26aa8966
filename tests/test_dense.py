"""The ONNX Runtime encoder against the sentence-transformers (torch) model it was exported from."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from qa.config import ROOT
from qa.models.dense import fingerprint
from qa.models.export import (
    ONNX_FILE,
    ONNX_FOLDER,
    QUERY_FILE,
    READER_FILE,
    READER_INT8_FILE,
    SOURCE_FILE,
    export_key,
)
from qa.models.reader import READER_WEIGHTS

TEXTS = [
    "宣传活动一共制作了多少面展板？",
    "表彰大会由谁主持？",
    "此次宣传活动共制作宣传展板20面,悬挂宣传条幅10条,现场受理依申请公开件20多份。",
    "臺灣的國立故宮博物院收藏了大量中華文物。",  # traditional
    "The central bank cut its benchmark interest rate by 25 basis points on Tuesday.",
    "新闻" * 700,  # past the model's 512 tokens: truncated the same way
]


@pytest.fixture(scope="module")
def reference(torch_model_path):
    """The model as sentence-transformers runs it with torch: what the ONNX export must reproduce."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(torch_model_path), device="cpu")


def test_question_vectors_match_the_torch_model(service, reference):
    """Questions run on the int8 model: close to the float32 vectors, and ranking passages the same way."""
    encoder = service.encoder
    ours = np.stack([encoder._encode_query(t) for t in TEXTS])
    theirs = reference.encode([encoder.query_prefix + t for t in TEXTS], normalize_embeddings=True)
    assert ours.shape == (len(TEXTS), encoder.dim) == theirs.shape
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.sum(ours * theirs, axis=1).min() > 0.98
    passages = service.index.store.ann.vectors(np.arange(service.index.store.ann.size))
    on_topic = slice(0, 4)  # the news texts; the rest match no passage, their best is a near tie
    assert ((ours[on_topic] @ passages.T).argmax(axis=1) == (theirs[on_topic] @ passages.T).argmax(axis=1)).all()


def test_passage_batches_match_the_torch_model(service, reference):
    """A batch of very different lengths (padded to the longest) gives each text its own vector."""
    encoder = service.encoder
    ours = encoder.encode_passages(TEXTS)
    theirs = reference.encode([encoder.passage_prefix + t for t in TEXTS], normalize_embeddings=True)
    assert np.sum(ours * theirs, axis=1).min() > 0.9999
    alone = np.stack([encoder.encode_passages([t])[0] for t in TEXTS])
    np.testing.assert_allclose(ours, alone, atol=1e-5)


def test_questions_are_cached_and_the_cache_is_bounded(service):
    encoder = service.encoder
    first = encoder.encode_query("表彰大会由谁主持？")
    assert encoder.encode_query("表彰大会由谁主持？") is first
    assert not first.flags.writeable
    for n in range(encoder.encode_query.cache_info().maxsize + 1):  # one question more than the cache holds
        encoder.encode_query(f"第{n}个问题")
    assert encoder.encode_query.cache_info().currsize == encoder.encode_query.cache_info().maxsize
    assert encoder.encode_query("表彰大会由谁主持？") is not first, "the oldest question left the cache"


def test_the_export_is_recorded_and_left_out_of_the_fingerprint(service, tmp_path):
    model = service.config.resolved_model_path
    source = json.loads((model / ONNX_FOLDER / SOURCE_FILE).read_text())
    assert source["fingerprint"] == export_key(service.encoder.fingerprint, READER_WEIGHTS)
    assert service.encoder.fingerprint == fingerprint(model) and service.encoder.onnx == model / ONNX_FOLDER
    for name in (ONNX_FILE, QUERY_FILE, READER_FILE, READER_INT8_FILE):  # weights beside each graph (memory-mapped)
        assert (model / ONNX_FOLDER / name).is_file() and (model / ONNX_FOLDER / f"{name}.data").is_file()
    folder = tmp_path / "model"  # a small folder: adding an export leaves its fingerprint as it was
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 10)
    before = fingerprint(folder)
    (folder / ONNX_FOLDER).mkdir()
    (folder / ONNX_FOLDER / ONNX_FILE).write_bytes(b"graph")
    assert fingerprint(folder) == before
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 11)
    assert fingerprint(folder) != before


def test_serving_never_imports_torch(config, service):
    """The app server.py serves, over a built index (the session's), starts and answers without torch,
    sentence-transformers or transformers: their imports were most of the start-up."""
    code = ("import sys; from qa.config import Config; from qa.web import create_app; "
            "client = create_app(Config.from_env()).test_client(); "
            "reply = client.post('/api/ask', json={'question': '表彰大会由谁主持？'}); "
            "assert reply.status_code == 200, reply.data; "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))")
    env = os.environ | {"QA_INDEX_DIR": str(config.index_dir), "QA_SEEDS_DIR": str(config.seeds_dir),
                        "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
