"""The script does not matter: a question and an archive in traditional Chinese get the same passages, answer,
confidence and support as their simplified form (opencc t2s, every character where it was), on documents of
DRCD that the reader never trained on (read from ../shared/bench by path)."""

from __future__ import annotations

import pytest

from qa.answers.answer import Answerer
from qa.config import ROOT
from qa.indexing.corpus import Corpus
from qa.models.reader_data import held_back, read_jsonl
from qa.search.retrieve import Retriever
from qa.storage.embedded import index_corpus

DRCD = ROOT.parent / "shared" / "bench" / "drcd_dev_articles"
DOCUMENTS, QUESTIONS = 4, 16


@pytest.fixture(scope="module")
def drcd():
    """A few held-back DRCD documents and their questions."""
    if not DRCD.exists():
        pytest.skip(f"{DRCD} is not here")
    docs = [d for d in read_jsonl(DRCD / "corpus.jsonl") if held_back(DRCD.name, str(d["id"]))][:DOCUMENTS]
    ids = {str(d["id"]) for d in docs}
    questions = [q for q in read_jsonl(DRCD / "questions.jsonl") if str(q["doc_id"]) in ids][:QUESTIONS]
    return docs, questions


def _ask(service, config, pages: dict[str, str]):
    """ask(question) -> (passage ids, answer) over an archive of `pages`, with the served models."""
    index = index_corpus(Corpus.from_pages(pages, config), service.encoder, service.tokenizer, progress=False)
    retriever = Retriever(index, service.encoder, service.tokenizer, config)
    answerer = Answerer(service.tokenizer, index.records.headline, service.reader, service.calibration)

    def ask(question: str):
        analysed = retriever.analyse(question)
        hits = retriever.hybrid(question, 5, analysed=analysed)
        return [h.chunk.id for h in hits], answerer.answer(analysed, hits, index.records.raw)
    return ask


def test_traditional_and_simplified_get_the_same_answer(service, config, drcd):
    docs, questions = drcd
    simplified = service.tokenizer.simplified
    traditional = _ask(service, config, {f"drcd-{d['id']}.txt": d["text"] for d in docs})
    converted = _ask(service, config, {f"drcd-{d['id']}.txt": simplified(d["text"]) for d in docs})
    assert len(questions) == QUESTIONS
    changed = 0
    for q in questions:
        changed += simplified(q["question"]) != q["question"]
        passages, answer = traditional(q["question"])
        passages_s, answer_s = converted(simplified(q["question"]))
        assert passages == passages_s, q["question"]
        assert (answer is None) == (answer_s is None)
        if answer is not None:
            assert (answer.span.start, answer.span.end) == (answer_s.span.start, answer_s.span.end), q["question"]
            assert simplified(answer.span.text) == answer_s.span.text
            assert answer.confidence == pytest.approx(answer_s.confidence, abs=1e-4)
            assert answer.support == pytest.approx(answer_s.support, abs=1e-4)
    assert changed >= QUESTIONS // 2  # the questions were traditional: the test compares two scripts
