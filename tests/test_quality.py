"""Quality on the shared dev set (read from ../shared by path) and on the repo's near-miss questions, held as
regression tests at the levels measured when the reader was retrained on 13,536 questions and the re-ranker
refitted on training data only (the goals, and the figures, are in BENCHMARKS.md, "Answers, not refusals":
these are floors, not goals)."""

from __future__ import annotations

import pytest

from qa.config import ROOT
from qa.eval import judge, read_items

DEV = ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl"
NEAR_MISS = ROOT / "tests" / "fixtures" / "near_miss.jsonl"  # the entity is in the seeds, the asked fact is not


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
    assert sum(v["hit1"] for v in answerable) >= len(answerable) - 3  # 22/25 since the re-ranker's refit


def test_answer_and_refusal_targets(verdicts):
    answerable = [v for v in verdicts if v["answerable"]]
    unanswerable = [v for v in verdicts if not v["answerable"]]
    assert sum(v["answer"] for v in answerable) >= len(answerable) - 1
    assert all(v["refused"] for v in unanswerable)
    assert sum(v["refused"] for v in answerable) <= 1


def test_near_misses_are_mostly_refused(service):
    items = read_items(NEAR_MISS)
    assert len(items) >= 20 and all(item["answer"] is None for item in items)
    refused = [judge(item, service.ask(item["question"], 5))["refused"] for item in items]
    assert sum(refused) >= 0.6 * len(items)  # 18/28 measured (the goal, 90 %, is not met)
