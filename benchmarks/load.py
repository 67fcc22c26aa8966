"""Load: N concurrent clients asking for D seconds while a page is added or removed every U seconds.

Usage: python benchmarks/load.py [QUESTIONS.jsonl] [--clients 50] [--seconds 60] [--update-every 10]
                                [--store milvus]

Starts `server.py` on a free loopback port over a copy of the seeds in a temporary folder (the project's
seeds and index are not touched), with an admin key and no rate limit, and reports requests/s, latency
percentiles, failed requests (any status but 200, or no reply), the updates and their times, and the
server's RSS after warm-up and at the end. Bounded: every client stops at the deadline.

With --store milvus: a `milvus-lite server` of the run's own (Milvus Lite: what runs here) holds the archive, and
the updates go through a second server.py on the same collections (another process, as another machine would),
while the clients ask the first one, which follows the updates; both servers' RSS and open connections to Milvus
are reported after warm-up and at the end (`--seconds 110 --update-every 2`: about 50 updates).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from latency import (
    DEFAULT_QUESTIONS,
    ROOT,
    connections,
    milvus_lite_server,
    percentile,
    rss_mb,
    start_server,
    stop_server,
)

ADMIN_KEY = "admin-key-of-the-load-benchmark"
SETTLED = 5  # the update after which the asking server's caches have been filled and emptied a few times


def client(url: str, questions: list[str], deadline: float, offset: int) -> tuple[list[float], list[str]]:
    """Asks in turn until the deadline: (latencies in ms of the answered, descriptions of the failed)."""
    latencies, failures, n = [], [], offset
    with requests.Session() as session:
        while time.monotonic() < deadline:
            question = questions[n % len(questions)]
            n += 1
            started = time.perf_counter()
            try:
                reply = session.post(url + "/api/ask", json={"question": question}, timeout=30)
            except requests.RequestException as error:
                failures.append(type(error).__name__)
                continue
            if reply.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                failures.append(f"{reply.status_code} {reply.text[:80]}")
    return latencies, failures


def updater(url: str, page: str, deadline: float, every: float, log: list[str],
            after_each: Callable[[], dict] = dict, samples: list[dict] | None = None) -> None:
    """Every `every` seconds: add the page, then remove it, in turn; each update's status and time, and what
    `after_each` measures once it is done (into `samples`)."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "text/plain; charset=utf-8"}
    present = False
    while time.monotonic() + every < deadline:
        time.sleep(every)
        started = time.perf_counter()
        path = url + "/api/admin/documents/load_test_page.txt"
        if present:
            reply = requests.delete(path, headers=headers, timeout=120)
        else:
            reply = requests.put(path, data=page.encode("utf-8"), headers=headers, timeout=120)
        present = not present
        log.append(f"{'add' if present else 'remove'} {reply.status_code} {(time.perf_counter() - started):.2f} s")
        if samples is not None:
            samples.append(after_each())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="?", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--update-every", type=float, default=10)
    parser.add_argument("--store", choices=["embedded", "milvus"], default="embedded")
    args = parser.parse_args()
    with args.questions.open(encoding="utf-8") as lines:
        questions = [json.loads(line)["question"] for line in lines if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="qa-load-"))
    stack = contextlib.ExitStack()  # the milvus-lite server and the second server.py, when there are
    try:
        shutil.copytree(ROOT / "seeds", work / "seeds")
        # The added page: a seed page with its numbers changed, so it is new text to encode each time.
        page = (ROOT / "seeds" / sorted(os.listdir(ROOT / "seeds"))[0]).read_text(encoding="utf-8").replace("2", "7")
        env = {"QA_SEEDS_DIR": str(work / "seeds"), "QA_INDEX_DIR": str(work / "index"), "QA_ADMIN_KEY": ADMIN_KEY,
               "QA_RATE_LIMIT": ""}
        if args.store == "milvus":
            _, uri = stack.enter_context(milvus_lite_server(work / "milvus"))
            env |= {"QA_STORE": "milvus", "QA_MILVUS_URI": uri, "QA_MILVUS_COLLECTION": "load"}
        process, url, _ = start_server(env)
        update_url, other = url, None
        if args.store == "milvus":  # the updates come from another process
            other, update_url, _ = start_server(env)
            stack.callback(stop_server, other)
        port = int(uri.rsplit(":", 1)[1]) if args.store == "milvus" else None

        def sample() -> dict:
            """RSS (MB) and open connections to Milvus of the asking server and of the updating one."""
            servers = {"asking": process} | ({"updating": other} if other else {})
            return {name: (rss_mb(p.pid), connections(p.pid, port) if port else None) for name, p in servers.items()}

        try:
            for question in questions:  # warm-up: every question once
                requests.post(url + "/api/ask", json={"question": question}, timeout=30)
            rss_start, at_start = rss_mb(process.pid), sample()
            deadline = time.monotonic() + args.seconds
            updates: list[str] = []
            samples: list[dict] = []
            thread = threading.Thread(target=updater, args=(update_url, page, deadline, args.update_every, updates,
                                                           sample, samples))
            thread.start()
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(lambda i: client(url, questions, deadline, i), range(args.clients)))
            elapsed = time.perf_counter() - started
            thread.join()
            rss_end, at_end = rss_mb(process.pid), sample()
        finally:
            stop_server(process)
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)
    latencies = [ms for done, _ in results for ms in done]
    failures = [f for _, failed in results for f in failed]
    print(f"store {args.store}{' (a milvus-lite server; updates through a second server.py)' if args.store == 'milvus' else ''}, "
          f"clients {args.clients}, {args.seconds:.0f} s, a page update every {args.update_every:.0f} s, "
          f"{len(questions)} questions in turn")
    print(f"requests {len(latencies) + len(failures)}  answered {len(latencies)}  failed {len(failures)}  "
          f"{len(latencies) / elapsed:.1f} req/s")
    if latencies:
        print(f"latency ms: p50 {percentile(latencies, 50):.0f}  p95 {percentile(latencies, 95):.0f}  "
              f"p99 {percentile(latencies, 99):.0f}  max {max(latencies):.0f}")
    print("updates:", "; ".join(updates) or "none")
    print(f"server RSS: {rss_start:.0f} MB after warm-up, {rss_end:.0f} MB at the end "
          f"({(rss_end / rss_start - 1) * 100:+.1f}%)")
    if args.store == "milvus":  # after warm-up, after the SETTLED-th update, at the end
        settled = samples[min(SETTLED, len(samples)) - 1] if samples else at_start
        for name in at_start:
            (rss_a, conn_a), (rss_s, conn_s), (rss_b, conn_b) = at_start[name], settled[name], at_end[name]
            print(f"{name} server: RSS {rss_a:.0f} MB after warm-up, {rss_s:.0f} MB after update {SETTLED}, "
                  f"{rss_b:.0f} MB after update {len(samples)} ({(rss_b / rss_s - 1) * 100:+.1f}% since update "
                  f"{SETTLED}); open connections to Milvus {conn_a}, {conn_s}, {conn_b}; "
                  f"most during the run {max(s[name][1] for s in samples) if samples else conn_b}")
    for failure in sorted(set(failures))[:10]:
        print("failure:", failure)


if __name__ == "__main__":
    main()
