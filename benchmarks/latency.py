"""Latency of /api/ask through a real server: start-up, p50/p95/p99 with one client, throughput with 8.

Usage: python benchmarks/latency.py [QUESTIONS.jsonl] [--url URL] [--rounds N] [--clients N]

Without --url it starts `server.py` on a free loopback port (over the built index/, which it builds
first if needed) and also reports the time from process start to a ready /api/health and the
server's RSS. Every loop is bounded: `rounds` passes over the question set.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl"


def start_server() -> tuple[subprocess.Popen, str, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=os.environ | {"HF_HUB_OFFLINE": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("server exited during start-up")
        try:
            if requests.get(url + "/api/health", timeout=2).ok:
                return process, url, time.perf_counter() - started
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server not ready in 600 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ask(session: requests.Session, url: str, question: str) -> float:
    started = time.perf_counter()
    reply = session.post(url + "/api/ask", json={"question": question}, timeout=60)
    reply.raise_for_status()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path, nargs="?", default=DEFAULT_QUESTIONS)
    parser.add_argument("--url")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the questions (later ones hit the query cache)")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.questions.open(encoding="utf-8") if line.strip()]
    process = None
    url = args.url
    if not url:
        process, url, ready = start_server()
        print(f"start to ready {ready:.2f} s (model + index load, warm-up included)")
    try:
        session = requests.Session()
        for q in questions[:3]:
            ask(session, url, q)
        times = [ask(session, url, q) for _ in range(args.rounds) for q in questions]
        print(f"one client: {len(times)} requests p50 {percentile(times, 50):.1f} ms p95 {percentile(times, 95):.1f} ms "
              f"p99 {percentile(times, 99):.1f} ms mean {statistics.mean(times):.1f} ms")
        work = [q for _ in range(args.rounds) for q in questions]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            concurrent = list(pool.map(lambda q: ask(requests.Session(), url, q), work))
        elapsed = time.perf_counter() - started
        print(f"{args.clients} clients: {len(work) / elapsed:.1f} requests/s p50 {percentile(concurrent, 50):.1f} ms "
              f"p95 {percentile(concurrent, 95):.1f} ms")
        if process:
            print(f"server RSS {rss_mb(process.pid):.0f} MB")
    finally:
        if process:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
