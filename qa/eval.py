"""Quality on QA, dialogue and archive-question sets over the seeds: `python -m qa eval [FILE.jsonl …]` prints
hit@1, hit@5, answers and refusals of a QA or dialogue set, and each answer kind's score on an archive set."""

from __future__ import annotations

import argparse
import json
import logging
import unicodedata
from pathlib import Path

from qa.answers.kinds import KINDS
from qa.config import Config
from qa.conversation import Chat
from qa.service import QAService
from qa.storage.filters import MAX_LIST_LIMIT, Paging
from qa.validate import parse_filters

FILE_FORMAT = """Each line of FILE: {"id", "question", "answer": gold string or null (not answerable), "seed": page file
or null}; a dialogue has "turns" (the user's messages) instead of "question", and its last turn is judged, each
turn asked with the conversation so far (our own replies included). A hit is a returned passage from the gold
page that contains the gold answer (NFKC, whitespace removed).

An archive set's lines have a "kind" (fact, byline, date, page, list) and optional "filters" (as /api/ask takes
them): an item is right when the reply's kind is its kind and, for a list, the listed articles are exactly
"articles"; otherwise the answer text holds every string of "answer" (NFKC, blanks removed) and its citation is
"citation" (or, for a fact, starts with "article"); an item with an empty "answer" or "articles" must be refused.
Without FILE: the seed dev set (../shared/eval/seed_qa_dev.jsonl, when it is there) and the archive set in
tests/fixtures/archive_qa.jsonl."""
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = (ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl", ROOT / "tests" / "fixtures" / "archive_qa.jsonl")


def plain(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def judge(item: dict, reply: dict) -> dict:
    gold, seed = item.get("answer"), item.get("seed")
    passages, answer = reply["passages"], reply["answer"]
    if gold is None:
        return {"answerable": False, "refused": answer is None}
    hits = [p["source"]["file"] == seed and plain(gold) in plain(p["text"]) for p in passages[:5]]
    return {
        "answerable": True,
        "hit1": bool(hits and hits[0]),
        "hit5": any(hits),
        "answer": answer is not None and plain(gold) in plain(answer["text"]),
        "refused": answer is None,
    }


def judge_archive(item: dict, reply: dict) -> dict:
    """The verdict on an archive item (see FILE_FORMAT)."""
    answer = reply["answer"]
    expected = item.get("articles") if item["kind"] == "list" else item.get("answer")
    if not expected:
        return {"kind": item["kind"], "right": answer is None}
    if answer is None or reply["kind"] != item["kind"]:
        return {"kind": item["kind"], "right": False}
    if item["kind"] == "list":
        return {"kind": item["kind"], "right": sorted(i["article"]["id"] for i in answer["items"]) == sorted(expected)}
    cited = (answer["citation"].startswith(item["article"] + "-") if item["kind"] == "fact"
             else answer["citation"] == item["citation"])
    return {"kind": item["kind"], "right": cited and all(plain(s) in plain(answer["text"]) for s in expected)}


def archive_summary(results: list[dict]) -> str:
    kinds = dict.fromkeys(r["kind"] for r in results)
    per_kind = "  ".join(f"{k} {sum(r['right'] for r in results if r['kind'] == k)}/"
                         f"{sum(r['kind'] == k for r in results)}" for k in kinds)
    return f"archive questions {len(results)}: right {sum(r['right'] for r in results)}/{len(results)}  ({per_kind})"


def read_items(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def converse(chat: Chat, turns: list[str], top_k: int = 5) -> dict:
    """Replays a dialogue, each turn with the history so far (our own replies included); the last reply."""
    messages: list[dict] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        reply = chat.reply(messages, top_k)
        messages.append({"role": "assistant", "content": reply["reply"]})
    return reply


def evaluate(service: QAService, items: list[dict], verbose: bool = False) -> list[dict]:
    """One verdict per item; with verbose, one line per question as it is answered."""
    chat = Chat(service)
    results = []
    for item in items:
        if "turns" in item:
            reply = converse(chat, item["turns"])
        else:
            # A list is judged whole: its longest page.
            reply = service.ask(item["question"], 5, filters=parse_filters(item.get("filters")),
                                paging=Paging(MAX_LIST_LIMIT))
        verdict = judge_archive(item, reply) if item.get("kind") in KINDS else judge(item, reply)
        results.append(verdict)
        if verbose:
            answer = reply["answer"]
            print(f"{item.get('id')} {verdict} kind={reply['kind']} "
                  f"conf={answer['confidence'] if answer else reply.get('confidence')} "
                  f"gold={item.get('answer')} answer={answer['text'][:60] if answer else '(refused)'} "
                  f"searched={reply.get('standalone_question', '')}")
    return results


def summary(results: list[dict]) -> str:
    answerable = [r for r in results if r["answerable"]]
    unanswerable = [r for r in results if not r["answerable"]]
    n = len(answerable)
    return "\n".join([
        f"questions {len(results)} (answerable {n}, unanswerable {len(unanswerable)})",
        f"hit@1 {sum(r['hit1'] for r in answerable)}/{n}  hit@5 {sum(r['hit5'] for r in answerable)}/{n}  "
        f"answers containing the gold {sum(r['answer'] for r in answerable)}/{n}",
        f"refusals of the unanswerable {sum(r['refused'] for r in unanswerable)}/{len(unanswerable)}  "
        f"false refusals {sum(r['refused'] for r in answerable)}/{n}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa eval", description=__doc__, epilog=FILE_FORMAT)
    parser.add_argument("files", type=Path, nargs="*")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per question")
    args = parser.parse_args(argv)
    files = args.files or [f for f in DEFAULT_FILES if f.is_file()]
    for missing in (f for f in files if not f.is_file()):
        parser.error(f"no such file: {missing}")
    logging.basicConfig(level=logging.WARNING)
    service = QAService(Config.from_env(), progress=False)
    for path in files:
        items = read_items(path)
        results = evaluate(service, items, args.verbose)
        archive = [r for r in results if "right" in r]
        print(f"# {path.name}")
        print(archive_summary(archive) if archive else summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
