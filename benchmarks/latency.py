"""Latency of /api/ask through a real server, and the build and start-up times of the seeds' index.

Usage: python benchmarks/latency.py [QUESTIONS.jsonl] [--url URL] [--rounds N] [--clients N] [--no-build]
                                   [--store milvus [--milvus-uri URI]] [--filters JSON ...]

Without --url it first times three index builds of the seeds with `python -m qa build` into a
temporary folder (unless --no-build): cold (an empty embedding cache: every passage is embedded),
warm (every embedding cached) and one page changed (only that page's passages embedded). Then it
starts `server.py` on a free loopback port over the built index/ (building it first if needed) and
reports the time from process start to a ready /api/health, the one-client p50/p95/p99, the
throughput of `clients` concurrent clients and the server's RSS. Every loop is bounded: `rounds`
passes over the question set.

With --store milvus the builds and the server use the Milvus store: Milvus Lite in a temporary folder (in
the build's and then the server's process), or the Milvus server --milvus-uri names (collections `bench_*`).
There the warm build rebuilds from the pages the collections hold, and the changed page goes in as an
update (`qa add --replace`), as it would on that store.

Each --filters (a JSON object, as /api/ask takes it) adds a pass of one client in which every question is asked
without and then with those filters, one after the other (so both see the same machine load): the p50 of each
and the p50 of the per-question difference, of the whole request and of the server's search stage (a filtered
question is answered from other passages, so the request's difference also holds the reader's other work).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl"
ENV = os.environ | {"HF_HUB_OFFLINE": "1"}


def start_server(env: dict[str, str] | None = None, timeout: float = 600) -> tuple[subprocess.Popen, str, float]:
    """server.py on a free loopback port (`env` added to the environment); (process, url, seconds to ready)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=ENV | (env or {}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("server exited during start-up")
        try:
            if requests.get(url + "/api/health", timeout=2).ok:
                return process, url, time.perf_counter() - started
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server not ready in {timeout:.0f} s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


@contextmanager
def milvus_lite_server(folder: Path, timeout: float = 120) -> Iterator[tuple[subprocess.Popen, str]]:
    """A `milvus-lite server` on a free loopback port, its data in `folder`: (process, URI). Milvus Lite is what
    runs here; a Milvus cluster is what production would run (docs/scaling.md)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "milvus.log").open("w") as log:
        process = subprocess.Popen([str(Path(sys.executable).with_name("milvus-lite")), "server", "--data-dir",
                                    str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"milvus-lite server did not start: {(folder / 'milvus.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def connections(pid: int, port: int) -> int:
    """The TCP connections a process holds open to a port (its sockets' inodes looked up in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()  # local, remote (hex ip:port), state (01: established), ..., inode
            if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (`milvus-lite server` runs Milvus in a child process)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    return rss_mb(pid) + sum(tree_rss_mb(int(child)) for child in children)


def ask(session: requests.Session, url: str, question: str, filters: dict | None = None) -> float:
    """The request's milliseconds."""
    return timed(session, url, question, filters)[0]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def one_client(url: str, questions: list[str], rounds: int) -> list[float]:
    """Milliseconds of each request of `rounds` passes, after three warm-up requests."""
    session = requests.Session()
    for q in questions[:3]:
        ask(session, url, q)
    return [ask(session, url, q) for _ in range(rounds) for q in questions]


def filter_cost(url: str, questions: list[str], rounds: int, filters: dict) -> str:
    """Each question asked without, then with the filters (after one untimed pass with them, so that the passages
    they lead to are as warm in the server's caches as the unfiltered ones): p50 of each, and per question the
    difference of the whole request and of the server's search stage (retrieval, where the filter acts)."""
    session = requests.Session()
    for q in questions:
        ask(session, url, q, filters)
    pairs = [(timed(session, url, q), timed(session, url, q, filters)) for _ in range(rounds) for q in questions]
    plain, filtered = [a for a, _ in pairs], [b for _, b in pairs]
    return (f"filters {json.dumps(filters, ensure_ascii=False)}: {len(pairs)} pairs, p50 {percentile([a for a, _ in plain], 50):.1f} ms "
            f"without, {percentile([b for b, _ in filtered], 50):.1f} ms with; per question, with minus without: "
            f"request p50 {percentile([b[0] - a[0] for a, b in pairs], 50):+.1f} ms, search stage p50 "
            f"{percentile([b[1] - a[1] for a, b in pairs], 50):+.2f} ms")


def timed(session: requests.Session, url: str, question: str, filters: dict | None = None) -> tuple[float, float]:
    """(the request's milliseconds, the server's search-stage milliseconds)."""
    started = time.perf_counter()
    reply = session.post(url + "/api/ask", json={"question": question} | ({"filters": filters} if filters else {}),
                         timeout=60)
    reply.raise_for_status()
    return (time.perf_counter() - started) * 1000, reply.json()["timings_ms"]["search"]


def build(env: dict[str, str], command: tuple[str, ...] = ("build",)) -> tuple[float, dict]:
    """`python -m qa build` (or another command) in a process of its own (`env` added): (process wall seconds,
    its summary line)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "qa", *command], cwd=ROOT, env=ENV | env, capture_output=True,
                          text=True, check=True)
    return time.perf_counter() - started, json.loads(done.stdout.strip().splitlines()[-1])


def build_times(store: dict[str, str]) -> None:
    """Cold, warm and one-page-changed builds of the seeds into a temporary index folder (or the store's
    collections) and cache."""
    from qa.config import Config

    config = Config.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = Path(tmp) / "seeds"
        shutil.copytree(config.seeds_dir, seeds)
        page = sorted(seeds.glob("*.txt"))[2]
        env = {"QA_SEEDS_DIR": str(seeds), "QA_INDEX_DIR": str(Path(tmp) / "index"),
               "QA_CACHE_DIR": str(Path(tmp) / "cache"), "QA_MODEL_PATH": str(config.resolved_model_path)} | store
        for name in ("cold (empty embedding cache)", "warm (all embeddings cached)", "one page changed"):
            command = ("build",)
            if name == "one page changed":  # three sentences of one page end differently
                page.write_text(page.read_text(encoding="utf-8").replace("。", "，", 3), encoding="utf-8")
                if store:  # the Milvus store rebuilds from its own pages: the change goes in as an update
                    command = ("add", "--replace", str(page))
            wall, summary = build(env, command)
            print(f"build {name}: {summary['build_seconds']:.2f} s in the build, {wall:.2f} s process wall, "
                  f"{summary['encoded_chunks']} of {summary['counts']['chunks']} passages embedded", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path, nargs="?", default=DEFAULT_QUESTIONS)
    parser.add_argument("--url")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the questions (later ones hit the query cache)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--no-build", action="store_true", help="skip the timed builds of the seeds")
    parser.add_argument("--store", choices=["embedded", "milvus"], default="embedded")
    parser.add_argument("--milvus-uri", help="a Milvus server's http://host:port (default: Milvus Lite in a temporary folder)")
    parser.add_argument("--filters", type=json.loads, action="append", default=[],
                        help='also time the questions with these filters, e.g. \'{"page": "002_d1b9c29a276e9447.txt"}\'')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = {} if args.store == "embedded" else {
            "QA_STORE": "milvus", "QA_MILVUS_URI": args.milvus_uri or str(Path(tmp) / "bench.db"),
            "QA_MILVUS_COLLECTION": "bench"}
        run(args, store)


def run(args, store: dict[str, str]) -> None:
    questions = [json.loads(line)["question"] for line in args.questions.open(encoding="utf-8") if line.strip()]
    process = None
    url = args.url
    if not url:
        if not args.no_build:
            build_times(store)
        from qa.config import Config
        from qa.storage.embedded import stale_reason

        if store or stale_reason(Config.from_env()):
            build(store)
        process, url, ready = start_server(store)
        print(f"start to ready {ready:.2f} s (server process start to /api/health, over the built index)")
    try:
        times = one_client(url, questions, args.rounds)
        print(f"one client: {len(times)} requests p50 {percentile(times, 50):.1f} ms p95 {percentile(times, 95):.1f} ms "
              f"p99 {percentile(times, 99):.1f} ms mean {statistics.mean(times):.1f} ms")
        work = [q for _ in range(args.rounds) for q in questions]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            concurrent = list(pool.map(lambda q: ask(requests.Session(), url, q), work))
        elapsed = time.perf_counter() - started
        print(f"{args.clients} clients: {len(work) / elapsed:.1f} requests/s p50 {percentile(concurrent, 50):.1f} ms "
              f"p95 {percentile(concurrent, 95):.1f} ms")
        for filters in args.filters:
            print(filter_cost(url, questions, args.rounds, filters), flush=True)
        if process:
            print(f"server RSS {rss_mb(process.pid):.0f} MB")
    finally:
        if process:
            stop_server(process)


if __name__ == "__main__":
    main()
