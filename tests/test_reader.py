"""The reader: a short training lowers the loss and its file round-trips; the served ONNX model computes what
the torch network does; answers on sentences that no evaluation set holds, with exact offsets."""

from __future__ import annotations

import itertools
import json
import random
import re

import numpy as np
import pytest

from qa.answers.answer import Answerer, window
from qa.ingest.documents import Chunk, Hit
from qa.ingest.normalize import normalise_with_map
from qa.language import analysis
from qa.models.dense import text_tokenizer

# Made up for these tests (no evaluation set holds them): (question, passage, answer).
FACTS = [
    ("新建的体育馆可以容纳多少名观众？", "该体育馆于去年十月竣工,可容纳观众8000名,总投资约3亿元。", "8000名"),
    ("志愿服务队的队长是谁？", "社区志愿服务队成立于2019年,队长王建国带领队员每周走访独居老人。", "王建国"),
    ("新图书馆建在什么地方？", "新图书馆建在滨河公园北侧,明年春天对外开放。", "滨河公园北侧"),
    ("农贸市场改造工程哪一天开工？", "农贸市场改造工程于3月18日开工,预计工期四个月。", "3月18日"),
    ("社区开展了什么志愿服务活动？", "社区开展了“邻里守望”志愿服务活动,居民纷纷报名参加。", "“邻里守望”"),
]


def training_examples(n: int):
    """`n` examples of the FACTS' kind, the numbers and names varied, and some without an answer."""
    from qa.models.train_reader import Example

    rng = random.Random(0)
    names = ["王建国", "李秀兰", "张卫东", "赵红梅", "陈志强"]
    out = []
    for i in range(n):
        count, name = rng.randint(20, 900), rng.choice(names)
        if i % 3 == 0:
            window = f"{name}说,今年共组织了{count}场活动。"
            out.append(Example("今年共组织了多少场活动？", window, (window.index(str(count)), window.index("场活动") + 1)))
        elif i % 3 == 1:
            window = f"巡逻队共有{count}名队员,队长{name}负责排班。"
            out.append(Example("巡逻队的队长是谁？", window, (window.index(name), window.index(name) + len(name))))
        else:
            out.append(Example("巡逻队的队长是谁？", f"今年共组织了{count}场活动,参与群众众多。", None))
    return out


def test_training_lowers_the_loss_and_the_file_round_trips(torch_model_path, tmp_path):
    import torch

    from qa.models.reader_net import base_lower, base_upper, load_upper
    from qa.models.train_reader import prepare, save, train

    prepared = prepare(training_examples(48), text_tokenizer(torch_model_path), base_lower(torch_model_path, 2),
                       progress=False)
    assert len(prepared.encoded) == 48 and sum(t == (0, 0) for t in prepared.targets) == 16
    upper = base_upper(torch_model_path, 2, 2)
    losses = train(prepared, upper, epochs=4, lr=2e-4, batch=8, seed=0, log_every=6)
    assert losses[-1] < 0.5 * losses[0], losses

    path = tmp_path / "reader.safetensors"
    save(upper, path, {"lower_layers": 2, "upper_layers": 2, "losses": losses})
    loaded, lower_layers = load_upper(path)
    assert lower_layers == 2
    for name, tensor in upper.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor.to(torch.float16).float())
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["losses"] == losses and len(card["sha256"]) == 64


class Stopped(Exception):
    """A training run stopped from outside (as by a kill)."""


def test_a_stopped_training_resumes_from_its_checkpoint(torch_model_path, tmp_path, monkeypatch):
    import torch

    from qa.models import train_reader
    from qa.models.reader_net import base_lower, base_upper

    monkeypatch.setattr(train_reader, "CHECKPOINT_EVERY", 3)
    prepared = train_reader.prepare(training_examples(48), text_tokenizer(torch_model_path),
                                    base_lower(torch_model_path, 2), progress=False)
    real = train_reader._tensors

    def run(checkpoint, epochs=2, recipe=None):
        torch.manual_seed(0)  # the head starts random: as `run` does, every run starts from the same one
        upper = base_upper(torch_model_path, 2, 1)  # a new process: nothing but the checkpoint survives
        # A loss is logged every 3 steps, as checkpoints are made: a resumed run logs the same means.
        losses = train_reader.train(prepared, upper, epochs, 2e-4, 8, 0, log_every=3, checkpoint=checkpoint,
                                    recipe=recipe or {"name": "test"})
        return upper, losses

    def stop_in_step(n):
        calls = itertools.count(1)

        def tensors(*args):
            if next(calls) == n:
                raise Stopped
            return real(*args)
        return tensors

    whole, whole_losses = run(tmp_path / "a" / "checkpoint.pt")  # 12 steps
    monkeypatch.setattr(train_reader, "_tensors", stop_in_step(8))
    with pytest.raises(Stopped):
        run(tmp_path / "b" / "checkpoint.pt")  # stopped in step 8: the checkpoint of step 6 is on disk
    monkeypatch.setattr(train_reader, "_tensors", real)
    resumed, resumed_losses = run(tmp_path / "b" / "checkpoint.pt")
    for name, tensor in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, rtol=1e-4, atol=1e-5)
    assert resumed_losses == pytest.approx(whole_losses, rel=1e-4)
    # A checkpoint of another recipe is not resumed: a new run starts afresh (and overwrites it).
    run(tmp_path / "b" / "checkpoint.pt", epochs=1, recipe={"name": "another"})
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert '"another"' in state["identity"] and state["step"] == 6



def test_onnx_reader_computes_what_torch_does(service, torch_model_path):
    import torch

    from qa.models.export import READER_FILE
    from qa.models.reader import READER_WEIGHTS, Reader, batch_arrays, encode
    from qa.models.reader_net import Reader as Net
    from qa.models.reader_net import base_lower, load_upper

    upper, lower_layers = load_upper(READER_WEIGHTS)
    net = Net(base_lower(torch_model_path, lower_layers), upper).eval()
    onnx = Reader(service.encoder.onnx / READER_FILE, service.encoder.tokenizer)
    arrays = batch_arrays([encode(onnx.tokenizer, q, p) for q, p, _ in FACTS])
    start, end = onnx.session.run(["start_logits", "end_logits"], arrays)
    with torch.inference_mode():
        expected = net(*(torch.from_numpy(arrays[k]) for k in ("input_ids", "attention_mask", "marks")))
    mask = arrays["attention_mask"].astype(bool)
    np.testing.assert_allclose(start[mask], expected[0].numpy()[mask], atol=1e-3)
    np.testing.assert_allclose(end[mask], expected[1].numpy()[mask], atol=1e-3)


def _answer(service, question: str, raw: str):
    """The served answerer on one passage made of `raw` (a page of its own), words weighted alike."""
    mapped = normalise_with_map(raw)
    text = mapped.text
    sentences = [(m.start(), m.end()) for m in re.finditer(r"[^。！？]+[。！？]?", text)]
    chunk = Chunk("t-a01-c01", "t-a01", "t.txt", text, 0, len(raw), tuple(sentences))
    hit = Hit(chunk, 1.0, {"best_sentence": 0, "cosine": 0.85, "bm25_share": 1.0, "dense_gap": 0.0})
    q = analysis.question(question, service.tokenizer, lambda words: [1.0] * len(words))
    answerer = Answerer(service.tokenizer, lambda chunk: "", service.reader, service.calibration)
    return answerer.answer(q, [hit], lambda chunk: raw)


# Known misses of the shipped reader, kept as strict expected failures (one that starts passing is reported).
KNOWN_MISSES = {"农贸市场改造工程哪一天开工？": "issue 21's reader takes the whole clause 农贸市场改造工程于3月18日开工"}


@pytest.mark.parametrize("question, passage, answer", [
    pytest.param(*fact, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[fact[0]])) if fact[0] in KNOWN_MISSES
    else fact for fact in FACTS])
def test_short_answer_of_new_sentences(service, question, passage, answer):
    found = _answer(service, question, passage)
    assert found is not None
    assert answer in found.span.text and len(found.span.text) <= len(answer) + 4, found.span.text
    assert passage[found.span.start : found.span.end] == found.span.text
    assert found.sentence.text[found.highlight[0] : found.highlight[1]] == found.span.text


def test_traditional_question(service):
    found = _answer(service, "志願服務隊的隊長是誰？", FACTS[1][1])
    assert found is not None and found.span.text == "王建国"


def test_offsets_stay_exact_in_ocr_text(service):
    # Column-wrapped lines, stray spaces and full-width punctuation: the span still maps to the raw page.
    raw = "本报讯 该体育馆于去年十月竣\n工，可容纳观众 8000名，\n总投资约3亿元。"
    found = _answer(service, "新建的体育馆可以容纳多少名观众？", raw)
    assert found is not None
    assert "8000" in found.span.text
    assert normalise_with_map(raw[found.span.start : found.span.end]).text == found.span.text
    assert normalise_with_map(raw[found.sentence.start : found.sentence.end]).text == found.sentence.text


def test_an_unrelated_passage_has_low_support(service):
    found = _answer(service, "新建的体育馆可以容纳多少名观众？", "社区开展了“邻里守望”志愿服务活动,居民纷纷报名参加。")
    assert found is None or found.support < service.calibration.refuse_below


def test_window_grows_around_the_best_sentence():
    sentences = ((0, 50), (50, 120), (120, 200), (200, 260))
    chunk = Chunk("c", "a", "p", "x" * 260, 0, 260, sentences)
    assert window(Hit(chunk, 1.0, {"best_sentence": 1})) == (50, 200)  # the next sentence first, then no more room
    assert window(Hit(chunk, 1.0, {"best_sentence": 3})) == (120, 260)


def test_shipped_reader_file_and_its_card():
    import hashlib

    from qa.models.reader import READER_WEIGHTS

    card = json.loads(READER_WEIGHTS.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["sha256"] == hashlib.sha256(READER_WEIGHTS.read_bytes()).hexdigest()
    assert READER_WEIGHTS.stat().st_size <= 30 * 1024 * 1024
    from qa.models.reader_data import SOURCES, TRAIN_SETS

    assert set(card["training_data"]) == set(TRAIN_SETS)  # never the held-out dev set
    for name, described in card["training_data"].items():  # the licences ask for attribution
        assert described["source"] == SOURCES[name] and "CC BY-SA" in described["source"]


def test_a_calibration_for_other_features_is_refused(tmp_path):
    from qa.answers.confidence import CALIBRATION_FILE, Calibration
    from qa.errors import ModelError

    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    Calibration.load(CALIBRATION_FILE)
    path = tmp_path / "confidence.json"
    path.write_text(json.dumps(data | {"features": data["features"][:-1]}), encoding="utf-8")
    with pytest.raises(ModelError, match="other features"):
        Calibration.load(path)


def test_held_back_documents_are_never_trained_on():
    from qa.config import ROOT
    from qa.models.reader_data import HELD_BACK_SHARE, TRAIN_SETS, held_back, load_questions, read_jsonl

    bench = ROOT.parent / "shared" / "bench"
    if not bench.exists():
        pytest.skip(f"{bench} is not here")
    for name in TRAIN_SETS:
        ids = [str(d["id"]) for d in read_jsonl(bench / name / "corpus.jsonl")]
        docs, questions = load_questions(bench, name)
        kept = [i for i in ids if held_back(name, i)]
        assert set(docs) == set(ids) - set(kept) and {q["doc_id"] for q in questions} <= set(docs)
        assert abs(len(kept) / len(ids) - HELD_BACK_SHARE) < 0.05, name  # a fixed share of each set, by document
