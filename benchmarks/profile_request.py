"""Where the time goes: the stages of one /api/ask, and the start-up of a server over a built index.

Usage: python benchmarks/profile_request.py [QUESTIONS.jsonl] [--rounds N] [--tree FILE]

Requests: each stage of the pipeline is called on its own, in the order the service runs them, for
every question (`rounds` passes; the query-embedding cache is cleared before each pass, so every
embedding is computed; POS tags are timed uncached and cached), and its median and p95 milliseconds
are printed, then the whole `QAService.ask` and the JSON encoding of its reply.

Start-up: a fresh interpreter builds the app (`qa.web.create_app`, what server.py does) under
pyinstrument, and the call tree's top levels are printed (imports included); `--tree FILE` also writes
the full tree of the request passes there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.answers import replies  # noqa: E402
from qa.config import Config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl"
STARTUP = """
from pyinstrument import Profiler
profiler = Profiler(interval=0.001)
profiler.start()
from qa.config import Config
from qa.web import create_app
create_app(Config.from_env())
profiler.stop()
print(profiler.output_text(unicode=True, show_all=False))
"""


def stage_timings(service, questions: list[str], rounds: int) -> dict[str, list[float]]:
    """Milliseconds of each stage, every question, every round, in the order the service runs them."""
    retriever, encoder, index, tokenizer = service.retriever, service.encoder, service.index, service.tokenizer
    raw = index.records.raw
    times: dict[str, list[float]] = {}

    def timed(name: str, run):
        started = time.perf_counter()
        result = run()
        times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return result

    for _ in range(rounds):
        encoder.encode_query.cache_clear()
        for q in questions:
            analysed = timed("question analysis (jieba words, IDF, type)", lambda: retriever.analyse(q))
            timed("embedding: model tokenizer", lambda: encoder.tokenizer.encode(encoder.query_prefix + q))
            timed("embedding: tokenizer + forward pass", lambda: encoder.encode_query(q))
            timed("BM25 (jieba words + bm25s scores)", lambda: index.store.bm25.scores(tokenizer(q)))
            timed("FAISS search (top 100) + candidate vectors", lambda: index.store.ann.vectors(
                index.store.ann.search(encoder.encode_query(q)[None, :], service.config.candidates)[1][0]))
            hits = timed("retrieval, embedding cached (BM25+FAISS+fusion+re-rank)", lambda: retriever.hybrid(q, 5))
            tokenizer.tagged.cache_clear()
            timed("answer extraction, POS tags not cached", lambda: service.answerer.answer(analysed, hits, raw))
            timed("answer extraction, POS tags cached", lambda: service.answerer.answer(analysed, hits, raw))
            timed("highlights of the 5 passages", lambda: [replies.highlights(h.chunk, sorted(set(tokenizer(q)), key=len, reverse=True), tokenizer) for h in hits])
            body = timed("QAService.ask, embedding and POS cached", lambda: service.ask(q))
            timed("json.dumps of the reply", lambda: json.dumps(body, ensure_ascii=False))
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path, nargs="?", default=DEFAULT_QUESTIONS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", type=Path, help="write pyinstrument's call tree of the request passes here")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.questions.open(encoding="utf-8") if line.strip()]

    print("# start-up of the app over the built index (pyinstrument, fresh interpreter)", flush=True)
    started = time.perf_counter()
    tree = subprocess.run([sys.executable, "-c", STARTUP], cwd=ROOT, capture_output=True, text=True, check=True)
    print(tree.stdout.strip().split("\n", 5)[-1])
    print(f"(process wall {time.perf_counter() - started:.2f} s, interpreter start and profiler included)\n")

    from qa.service import QAService

    service = QAService(Config.from_env(), progress=False)
    print(f"# one request, by stage: {len(questions)} questions x {args.rounds} rounds, milliseconds")
    if args.tree:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    times = stage_timings(service, questions, args.rounds)
    if args.tree:
        profiler.stop()
        args.tree.write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
    print(f"{'stage':56s} {'p50':>7s} {'p95':>7s}")
    for name, values in times.items():
        print(f"{name:56s} {statistics.median(values):7.2f} {percentile(values, 95):7.2f}")
    print(f"({service.index.store.bm25.size} passages, vectors in {service.index.store.ann.kind})")


if __name__ == "__main__":
    main()
