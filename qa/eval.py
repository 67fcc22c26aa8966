"""Quality on a QA or dialogue set over the seeds: `python -m qa.eval FILE.jsonl` prints hit@1, hit@5, answers, refusals."""

from __future__ import annotations

import argparse
import json
import logging
import unicodedata
from pathlib import Path

from qa.chat import Chat
from qa.config import Config
from qa.service import QAService

FILE_FORMAT = """Each line of FILE: {"id", "question", "answer": gold string or null (not answerable), "seed": page file
or null}; a dialogue has "turns" (the user's messages) instead of "question", and its last turn is judged, each
turn asked with the conversation so far (our own replies included). A hit is a returned passage from the gold
page that contains the gold answer (NFKC, whitespace removed)."""


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
        reply = converse(chat, item["turns"]) if "turns" in item else service.ask(item["question"], 5)
        verdict = judge(item, reply)
        results.append(verdict)
        if verbose:
            answer = reply["answer"]
            print(f"{item.get('id')} {verdict} conf={answer['confidence'] if answer else reply.get('confidence')} "
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
    parser = argparse.ArgumentParser(prog="python -m qa.eval", description=__doc__, epilog=FILE_FORMAT)
    parser.add_argument("file", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per question")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    logging.basicConfig(level=logging.WARNING)
    items = read_items(args.file)
    print(summary(evaluate(QAService(Config.from_env(), progress=False), items, args.verbose)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
