"""Live updates: readers keep asking while pages come and go, builds killed at any point lose nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import pytest
import requests

from qa.config import ROOT
from qa.errors import Conflict, InvalidPageName, NotFound, PageTooLarge, UnreadablePage
from qa.indexing.pages import read_files
from qa.ingest.normalize import normalise
from qa.storage.embedded import build_index, load_index, load_or_build, recover_interrupted_swap, stale_reason
from qa.storage.library import Library

PAGE_PATH = ROOT / "tests" / "fixtures" / "update_page.txt"
PAGE = PAGE_PATH.read_bytes()
NEW_QUESTION = "紫荆山街道社区图书馆新馆共收藏图书多少册？"  # only the fixture page says: 8.6万册
SEED_QUESTIONS = ["宣传活动一共制作了多少面展板？", "表彰大会由谁主持？", "莲湖街道清除了几处菜地？"]


# -- readers during updates, through a real server ----------------------------------------------------------

def checked_ask(session: requests.Session, server, pages: dict[str, list[str]],
                question: str) -> tuple[dict | None, str]:
    """The reply to a question, and what is wrong with it ("" when nothing is); `pages`: every version of
    every page file that may be served."""
    try:
        reply = session.post(server.url + "/api/ask", json={"question": question}, timeout=60)
    except requests.RequestException as error:
        return None, f"{question}: {error}"
    if reply.status_code != 200:
        return None, f"{question}: {reply.status_code} {reply.text[:200]}"
    body = reply.json()
    for passage in body["passages"]:  # every passage quotes its page exactly: no mix of two indexes
        src = passage["source"]
        if not any(normalise(text[src["start"]:src["end"]]) == passage["text"] for text in pages[src["file"]]):
            return body, f"{question}: passage {passage['citation']} does not match its page"
        if passage["article"]["page"] != src["file"]:
            return body, f"{question}: passage {passage['citation']} has the article of another page"
    answer = body["answer"]
    span = answer and answer["sentence_span"]
    if answer and not any(normalise(text[span["start"]:span["end"]]) == answer["sentence"]
                          for text in pages[answer["page"]]):
        return body, f"{question}: the answer does not match its page"
    return body, ""


class Readers:
    """Client threads asking in a loop, each bounded in count and time, every reply checked."""

    def __init__(self, server, pages: dict[str, list[str]], threads: int = 3, max_requests: int = 400,
                 seconds: float = 60):
        self.server, self.pages, self.max_requests = server, pages, max_requests
        self.stop = threading.Event()
        self.requests = 0
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + seconds
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _run(self, n: int) -> None:
        questions = [NEW_QUESTION, *SEED_QUESTIONS]
        with reader_session(self.server) as session:
            for i in range(self.max_requests):
                if self.stop.is_set() or time.monotonic() > self._deadline:
                    return
                _, problem = checked_ask(session, self.server, self.pages, questions[(n + i) % len(questions)])
                with self._lock:
                    self.requests += 1
                    self.problems += [problem] if problem else []


def reader_session(server) -> requests.Session:
    session = requests.Session()
    session.headers.update(server.auth(server.read_key))
    return session


def test_readers_see_no_error_while_pages_come_and_go(keyed_server):
    name = "zz_live_page.txt"
    pages = {p.name: [p.read_text(encoding="utf-8")] for p in keyed_server.seeds.glob("*.txt")} | {name: []}
    url, auth = f"{keyed_server.url}/api/admin/documents/{name}", keyed_server.auth()
    swaps, deadline = 0, time.monotonic() + 25
    with Readers(keyed_server, pages) as readers, reader_session(keyed_server) as session:
        while swaps < 2 or (swaps < 12 and time.monotonic() < deadline):  # at least one add and one remove
            # A version never seen before: its passage is embedded while the readers ask (a model shared by both).
            page = PAGE.decode().replace("文化客厅", f"文化客厅(稿件编号 {uuid.uuid4().hex[:8]})")
            pages[name].append(page)
            added = session.put(url, data=page.encode(), headers=auth, timeout=120)
            assert added.status_code == 201, added.text
            assert added.json()["index"]["encoded_chunks"] == 1
            body, problem = checked_ask(session, keyed_server, pages, NEW_QUESTION)  # right after the swap
            assert not problem and body["answer"]["page"] == name and "8.6万册" in body["answer"]["text"]
            removed = session.delete(url, headers=auth, timeout=120)
            assert removed.status_code == 200, removed.text
            body, problem = checked_ask(session, keyed_server, pages, NEW_QUESTION)
            assert not problem and all(p["source"]["file"] != name for p in body["passages"])
            swaps += 2
    print(f"\nswap test: {readers.requests} requests by 3 readers, {len(readers.problems)} failed, {swaps} swaps")
    assert readers.problems == []
    assert readers.requests >= 20, "the readers really asked during the updates"


# -- the library in this process (the session's model), on copies of the seeds and the index --------------

@pytest.fixture()
def archive(config, service, tmp_path):
    """A config on private copies of the seeds and of the session's index."""
    shutil.copytree(config.seeds_dir, tmp_path / "seeds")
    shutil.copytree(config.index_dir, tmp_path / "index")
    return replace(config, seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")


def library_of(archive, service, published: list | None = None) -> Library:
    build = partial(build_index, archive, service.encoder, service.tokenizer, progress=False)
    return Library(archive, build, (published if published is not None else []).append)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_put_writes_the_page_and_publishes_the_new_index(archive, service):
    published = []
    (archive.seeds_dir / ".zz_new.txt.part").write_bytes(b"half a page")  # left by an update killed mid-write
    index, created = library_of(archive, service, published).put({"zz_new.txt": PAGE})
    assert created == {"zz_new.txt"} and published == [index]
    assert "zz_new.txt" in index.records.corpus.pages and index.manifest["counts"]["pages"] == 6
    assert (archive.seeds_dir / "zz_new.txt").read_bytes() == PAGE
    assert sorted(p.name for p in archive.seeds_dir.iterdir() if p.name.startswith(".")) == []
    assert stale_reason(archive) is None, "the index on disk is the one published"


def test_a_failed_build_puts_the_pages_back(archive, service):
    seeds, index = snapshot(archive.seeds_dir), snapshot(archive.index_dir)
    victim = sorted(archive.seeds_dir.glob("*.txt"))[0].name

    def broken_build(changes):
        raise OSError("disk full (simulated)")

    library = Library(archive, broken_build)
    with pytest.raises(OSError, match="simulated"):
        library.put({"zz_new.txt": PAGE, victim: PAGE})
    with pytest.raises(OSError, match="simulated"):
        library.remove([victim])
    assert snapshot(archive.seeds_dir) == seeds and snapshot(archive.index_dir) == index


def test_refusals_leave_folder_and_index_alone(archive, service, tmp_path):
    seeds, index = snapshot(archive.seeds_dir), snapshot(archive.index_dir)
    library = library_of(archive, service)
    existing = sorted(archive.seeds_dir.glob("*.txt"))[0].name
    with pytest.raises(Conflict, match="--replace") as caught:
        library.put({existing: PAGE}, replace=False)
    assert caught.value.code == "page_exists"
    with pytest.raises(NotFound):
        library.remove(["zz_missing.txt"])
    with pytest.raises(InvalidPageName):
        library.remove(["../seeds/" + existing])
    only = replace(archive, seeds_dir=tmp_path / "one")
    only.seeds_dir.mkdir()
    shutil.copy(archive.seeds_dir / existing, only.seeds_dir)
    with pytest.raises(Conflict, match="without pages") as caught:
        library_of(only, service).remove([existing])
    assert caught.value.code == "last_page" and (only.seeds_dir / existing).exists()
    assert snapshot(archive.seeds_dir) == seeds and snapshot(archive.index_dir) == index


def test_files_for_qa_add_are_checked_before_they_are_read(archive, tmp_path):
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:
        f.truncate(50_000_000)  # 50 MB, sparse: refused by its size, never read
    with pytest.raises(PageTooLarge, match="50000000 bytes"):
        read_files([huge], archive)
    (tmp_path / "a").mkdir()
    shutil.copy(PAGE_PATH, tmp_path / "a" / "page.txt")
    with pytest.raises(Conflict, match="two files named page.txt"):
        read_files([tmp_path / "a" / "page.txt", tmp_path / "a" / ".." / "a" / "page.txt"], archive)
    with pytest.raises(UnreadablePage, match="cannot be read"):
        read_files([tmp_path / "missing.txt"], archive)
    (tmp_path / "gbk.txt").write_bytes(PAGE.decode().encode("gbk"))
    assert read_files([tmp_path / "gbk.txt"], archive) == {"gbk.txt": PAGE.decode().encode("gbk")}


# -- the command line, and builds killed at several points -------------------------------------------------

def qa_command(archive, *args, runner=("-m", "qa")) -> dict:
    """`python -m qa ARGS` on the archive's folders, as keyword arguments of subprocess.run or Popen."""
    env = os.environ | {"QA_SEEDS_DIR": str(archive.seeds_dir), "QA_INDEX_DIR": str(archive.index_dir),
                        "HF_HUB_OFFLINE": "1"}
    return {"args": [sys.executable, *runner, *args], "cwd": ROOT, "env": env}


def run_qa(archive, *args) -> subprocess.CompletedProcess:
    return subprocess.run(**qa_command(archive, *args), capture_output=True, text=True, timeout=300)


def test_cli_refuses_clearly_and_removes(archive, service):
    """(`qa add` itself: at the end of the kill test.) Refusals come before the model loads: fast."""
    existing = sorted(archive.seeds_dir.glob("*.txt"))[0]
    refused = run_qa(archive, "add", str(existing))
    assert refused.returncode == 2
    assert f"{existing.name}: already in the archive (replace with --replace)" in refused.stderr
    missing = run_qa(archive, "remove", "zz_missing.txt", existing.name)
    assert missing.returncode == 2 and "no page named 'zz_missing.txt'" in missing.stderr and existing.exists()
    removed = run_qa(archive, "remove", existing.name)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout)["removed"] == [existing.name]
    assert json.loads(removed.stdout)["counts"]["pages"] == 4 and not existing.exists()
    assert stale_reason(archive) is None


# Where a `qa add` run is killed. Two points are wide enough to hit by timing alone; the others last a few
# milliseconds, so a test hook stops the run there (SIGSTOP, in the test's child process only: HOOK below)
# and it is killed while stopped. Each entry: (how, what) - a predicate on the run for timing, a hook name.
KILL_POINTS = {
    "starting up": ("timing", lambda run: time.monotonic() - run.started > 0.5),
    "page file half written": ("hook", "page"),
    "page written, model loading": ("timing", lambda run: (run.seeds / PAGE_PATH.name).exists()),
    "index half written": ("hook", "chunks"),
    "between the swap's two renames": ("hook", "swap"),
}
# The test hook: patches the child's functions to stop the process at the named point, then runs the CLI.
HOOK = """
import os, pathlib, signal, sys
import qa.storage.embedded, qa.storage.library
point, stop = sys.argv[1], lambda: os.kill(os.getpid(), signal.SIGSTOP)
if point == "page":  # the temporary file written and synced, not yet renamed over the page
    replace = os.replace
    os.replace = lambda src, dst: (str(src).endswith(".part") and stop(), replace(src, dst))
if point == "chunks":  # pages.jsonl and articles.jsonl of the new index written, not the passages
    write = qa.storage.embedded._write_jsonl
    qa.storage.embedded._write_jsonl = lambda path, rows: (path.name == "chunks.jsonl" and stop(), write(path, rows))
if point == "swap":  # the serving index renamed away, the new one not yet renamed into place
    rename = pathlib.Path.rename
    def renamed(self, target):
        moved = rename(self, target)
        if pathlib.Path(target).name.startswith(".index.old-"):
            stop()
        return moved
    pathlib.Path.rename = renamed
from qa.cli import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass
class Run:
    """One `qa add` of the fixture page, in a child process."""

    process: subprocess.Popen
    seeds: Path
    started: float

    def stopped(self) -> bool:
        state = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()[0]
        return state in ("T", "t")


def run_until_killed(archive, how, what, log_path: Path, seconds: float = 300) -> bool:
    """Start `qa add`, SIGKILL it at the point (bounded in time); False if it finished first."""
    command = qa_command(archive, "add", str(PAGE_PATH), runner=("-c", HOOK, what) if how == "hook" else ("-m", "qa"))
    deadline = time.monotonic() + seconds
    with log_path.open("w") as log:  # a file, not a pipe that nobody reads while it runs
        run = Run(subprocess.Popen(**command, stdout=log, stderr=log), archive.seeds_dir, time.monotonic())
        reached = run.stopped if how == "hook" else partial(what, run)
        while run.process.poll() is None:
            hit = reached()
            if hit or time.monotonic() > deadline:
                run.process.send_signal(signal.SIGKILL)
                run.process.wait(timeout=30)
                assert hit, f"the run did not get there in {seconds:.0f} s: {log_path.read_text()[-2000:]}"
                return True
            time.sleep(0.01)
    return False


def test_builds_killed_at_any_point_lose_nothing(archive, service, tmp_path):
    original = load_index(archive.index_dir).manifest["counts"]["pages"]
    page = archive.seeds_dir / PAGE_PATH.name
    for point, (how, what) in KILL_POINTS.items():
        assert run_until_killed(archive, how, what, tmp_path / "add.log"), f"{point}: finished before the kill"
        # The page is there whole or not at all; the index on disk (the previous one, or the new one once
        # renamed into place) loads; the next start rebuilds when the page got in but the index has not.
        assert not page.exists() or page.read_bytes() == PAGE, point
        recover_interrupted_swap(archive.index_dir)  # what every start does first
        assert load_index(archive.index_dir).manifest["counts"]["pages"] in (original, original + 1), point
        index = load_or_build(archive, service.encoder, service.tokenizer, progress=False)
        assert index.manifest["counts"]["pages"] == original + page.exists(), point
        print(f"\nkill test: killed at {point!r} ({how}); the page {'was' if page.exists() else 'was not'} kept")
        page.unlink(missing_ok=True)  # back to the start for the next point (the index follows at its next load)
    done = run_qa(archive, "add", str(PAGE_PATH))  # the next build, after all those kills, succeeds
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == [PAGE_PATH.name]
    assert stale_reason(archive) is None and PAGE_PATH.name in load_index(archive.index_dir).records.corpus.pages
    leftovers = [p.name for p in [*archive.index_dir.parent.iterdir(), *archive.seeds_dir.iterdir()]
                 if p.name.startswith(".") and p.name != ".index.lock"]
    assert leftovers == []
