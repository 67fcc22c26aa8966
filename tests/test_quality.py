"""Quality on the shared dev set (read from ../shared by path): the issue's targets, held as a regression test."""

from __future__ import annotations

import pytest

from qa.config import ROOT
from qa.eval import judge, read_items

DEV = ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl"


@pytest.fixture(scope="module", params=["service", "milvus_service"])
def verdicts(request):
    """The dev set judged on each store."""
    if not DEV.exists():
        pytest.skip(f"{DEV} is not here")
    service = request.getfixturevalue(request.param)
    items = read_items(DEV)  # closes the file: an unclosed one is a ResourceWarning, an error here
    return [judge(item, service.ask(item["question"], 5)) for item in items]


def test_retrieval_targets(verdicts):
    answerable = [v for v in verdicts if v["answerable"]]
    assert sum(v["hit5"] for v in answerable) == len(answerable)
    assert sum(v["hit1"] for v in answerable) >= len(answerable) - 1


def test_answer_and_refusal_targets(verdicts):
    answerable = [v for v in verdicts if v["answerable"]]
    unanswerable = [v for v in verdicts if not v["answerable"]]
    assert sum(v["answer"] for v in answerable) >= len(answerable) - 3
    assert all(v["refused"] for v in unanswerable)
    assert not any(v["refused"] for v in answerable)
