"""The Milvus store: the embedded store's answers, ids and citations; API servers sharing one Milvus; updates."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import requests
from conftest import milvus_settings, running_server

from qa.config import ROOT
from qa.errors import IndexMismatch, StoreUnavailable
from qa.eval import read_items
from qa.service import QAService
from qa.storage.milvus.backend import REFRESH_SECONDS, MilvusBackend, MilvusFollower, build
from qa.storage.milvus.client import connect, rows
from qa.storage.milvus.collections import Collections, _record
from qa.storage.milvus.terms import NO_WORDS, term_weights, token_id
from qa.storage.records import LRU

DEV = ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl"
PAGE = (ROOT / "tests" / "fixtures" / "update_page.txt").read_bytes()
QUESTION = "紫荆山街道社区图书馆新馆共收藏图书多少册？"  # only the fixture page says: 8.6万册
ADMIN_KEY = "admin-key-of-the-milvus-tests-01"


def questions() -> list[str]:
    """The dev set's questions when it is here, else questions about the seeds' own headlines."""
    if DEV.exists():
        return [item["question"] for item in read_items(DEV)]
    return ["莲湖街道清除了几处菜地？", "办事处主任是谁？", QUESTION]


def comparable(reply: dict) -> dict:
    """The reply without its timings, and the passages' scores apart: the stores' BM25 and cosine differ in
    the last float digits, which can move a score's fourth decimal."""
    passages = [{k: v for k, v in p.items() if k != "score"} for p in reply["passages"]]
    return {k: v for k, v in reply.items() if k != "timings_ms"} | {"passages": passages}


def test_both_stores_give_the_same_answers_passages_and_citations(service, milvus_service):
    assert milvus_service.index.manifest["counts"] == service.index.manifest["counts"]
    for question in questions():
        embedded, milvus = service.ask(question, 10), milvus_service.ask(question, 10)
        assert comparable(milvus) == comparable(embedded), question
        assert [p["score"] for p in milvus["passages"]] == pytest.approx([p["score"] for p in embedded["passages"]],
                                                                         abs=1e-3)
        cited = [p["citation"] for p in embedded["passages"]] + ([embedded["answer"]["citation"]]
                                                               if embedded["answer"] else [])
        for citation in cited:
            assert milvus_service.citation(citation) == service.citation(citation)
    assert milvus_service.articles() == service.articles()
    for article in service.articles()["articles"]:
        assert milvus_service.article(article["id"]) == service.article(article["id"])


def test_keyword_scores_are_bm25s_scores(service, milvus_service):
    """Client-side sparse vectors under Milvus's inner product give bm25s's own scores."""
    for question in questions():
        tokens = service.tokenizer(question)
        scores, ids = service.index.store.keyword(tokens, service.index.store.size)
        chunks = service.index.records.corpus.chunks  # the embedded store's keys are positions, Milvus's chunk ids
        expected = {chunks[int(i)].id: float(s) for s, i in zip(scores, ids) if s > 0}
        scores, ids = milvus_service.index.store.keyword(tokens, service.index.store.size)
        found = dict(zip(ids, map(float, scores)))
        assert found.keys() == expected.keys(), question
        np.testing.assert_allclose([found[i] for i in expected], list(expected.values()), rtol=1e-5)


@pytest.fixture()
def own_collections(config, tmp_path):
    """A Milvus Lite of this test's own, built from the seeds."""
    store = replace(config, store="milvus", milvus_uri=str(tmp_path / "own.db"))
    service = QAService(store, progress=False)
    yield store, service
    service.close()


def keyword_scores(service: QAService) -> list[dict[str, float]]:
    store = service.index.store
    rows = []
    for question in questions():  # the keys of the Milvus store are the chunk ids
        scores, ids = store.keyword(service.tokenizer(question), store.size)
        rows.append({i: round(float(s), 4) for s, i in zip(scores, ids)})
    return rows


def test_a_page_added_then_removed_leaves_the_same_scores(own_collections):
    store, service = own_collections
    before, manifest = keyword_scores(service), service.index.manifest
    collections = Collections(store, service.index.store.client)
    pages = collections.meta()
    added = collections.update({"zz_new.txt": PAGE}, service.encoder, service.tokenizer, None)
    assert added.manifest["counts"]["pages"] == manifest["counts"]["pages"] + 1
    assert added.manifest["generation"] == manifest["generation"] + 1 and "zz_new.txt" in collections.meta()
    service.swap(added)
    assert "8.6万册" in service.ask(QUESTION)["answer"]["text"]
    removed = collections.update({"zz_new.txt": None}, service.encoder, service.tokenizer, None)
    service.swap(removed)
    assert removed.manifest["counts"] == manifest["counts"] and collections.meta() == pages
    assert not {"seeds", "page_bytes"} & set(collections.manifest()), "the stored row stays small: no row per page"
    assert keyword_scores(service) == before, "document frequencies and counts are back where they were"
    assert service.ask(QUESTION)["answer"] is None


def test_collections_of_another_layout_are_refused(own_collections):
    store, service = own_collections
    collections = Collections(store, service.index.store.client)
    manifest = service.index.manifest | {"milvus_format": 99}
    collections.client.upsert(collections.names.records, [_record("manifest", "manifest", "", json.dumps(manifest))])
    with pytest.raises(IndexMismatch, match="another format .*`python -m qa build`"):
        collections.load()


def test_a_build_takes_an_archive_of_the_format_before_into_this_one(own_collections):
    """Format 2 kept its pages as this one does (`p:` and `m:` records): a full build rebuilds them, the pages
    that only updates added included (they exist nowhere else)."""
    store, service = own_collections
    collections = Collections(store, service.index.store.client)
    collections.update({"zz_only_here.txt": PAGE}, service.encoder, service.tokenizer, None)
    older = collections.manifest() | {"milvus_format": 2}
    collections.client.upsert(collections.names.records, [_record("manifest", "manifest", "", json.dumps(older))])
    with pytest.raises(IndexMismatch):
        collections.load()
    rebuilt = build(store, service.encoder, service.tokenizer, progress=False)
    assert rebuilt.manifest["milvus_format"] == 3 and rebuilt.records.page("zz_only_here.txt") is not None
    assert rebuilt.manifest["counts"]["pages"] == len(list(store.seeds_dir.glob("*.txt"))) + 1


def test_an_unreachable_milvus_is_a_clear_error(config, unused_port):
    unreachable = replace(config, store="milvus", milvus_uri=f"http://127.0.0.1:{unused_port}")
    with pytest.raises(StoreUnavailable, match=f"cannot open Milvus at http://127.0.0.1:{unused_port}"):
        Collections(unreachable)


def test_two_api_servers_share_one_milvus(config, service, milvus_uri, tmp_path):
    """Each server has its own seeds and index folders: all they share is the Milvus server. A page added
    through one is answered and listed by the other; removed through the other, it is gone from the first."""
    servers = []
    for name in ("a", "b"):
        shutil.copytree(config.seeds_dir, tmp_path / name / "seeds")
        servers.append(milvus_settings(config, milvus_uri, collection="shared") | {
            "QA_SEEDS_DIR": str(tmp_path / name / "seeds"), "QA_INDEX_DIR": str(tmp_path / name / "index"),
            "QA_ADMIN_KEY": ADMIN_KEY})
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with running_server(servers[0], tmp_path / "a.log") as a, running_server(servers[1], tmp_path / "b.log") as b:
        for question in questions()[:8]:
            replies = [requests.post(url + "/api/ask", json={"question": question}, headers=auth, timeout=30).json()
                       for url in (a, b)]
            assert comparable(replies[0]) == comparable(replies[1])
            assert comparable(replies[0]) == comparable(service.ask(question)), question
        added = requests.put(f"{a}/api/admin/documents/zz_shared.txt", data=PAGE, headers=auth, timeout=120)
        assert added.status_code == 201, added.text
        assert eventually(b, auth, lambda body: body["answer"] and "8.6万册" in body["answer"]["text"])
        assert not any((tmp_path / n / "seeds" / "zz_shared.txt").exists() for n in "ab"), "Milvus holds it"
        listed = requests.get(f"{b}/api/admin/documents", headers=auth, timeout=30).json()["documents"]
        assert {"name": "zz_shared.txt", "bytes": len(PAGE), "indexed": True}.items() <= next(
            d for d in listed if d["name"] == "zz_shared.txt").items()
        removed = requests.delete(f"{b}/api/admin/documents/zz_shared.txt", headers=auth, timeout=120)
        assert removed.status_code == 200, removed.text
        assert eventually(a, auth, lambda body: body["answer"] is None)
        gone = requests.delete(f"{a}/api/admin/documents/zz_shared.txt", headers=auth, timeout=120)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def eventually(url: str, auth: dict, check, seconds: float = 20) -> bool:
    """Whether the server's reply to QUESTION passes `check` within `seconds` (servers look for newer
    generations once a second); bounded in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = requests.post(url + "/api/ask", json={"question": QUESTION}, headers=auth, timeout=30).json()
        if check(body):
            return True
        time.sleep(0.3)
    return False


def test_collections_built_with_other_settings_are_refused_not_rebuilt(own_collections):
    """Other API servers may be serving them: a server with other chunk settings must not rebuild them."""
    store, service = own_collections
    other = replace(store, chunk_max_chars=store.chunk_max_chars + 50)
    with pytest.raises(IndexMismatch, match="built with other settings or another model"):
        QAService(other, progress=False)
    assert Collections(store).manifest()["generation"] == service.index.manifest["generation"]


def test_a_passage_without_words_is_stored_and_never_matches():
    """Milvus refuses an empty sparse vector: a passage of stopwords alone gets a dimension no query has."""
    weights = term_weights([], avgdl=50.0)
    assert weights == {NO_WORDS: 1.0}
    assert all(token_id(t) != NO_WORDS for t in ("的", "了", "莲湖街道", "x" * 300))


@pytest.mark.parametrize("where", ["milvus-lite server", "Milvus Lite file"])
def test_the_command_line_builds_and_updates_the_shared_collections(config, milvus_uri, tmp_path, where):
    """`qa build` loads the seeds into Milvus and `qa add` a page: no page file is written anywhere. Each
    command is a process of its own (Milvus Lite opens its file's collections released)."""
    uri = milvus_uri if where == "milvus-lite server" else str(tmp_path / "archive.db")
    env = os.environ | milvus_settings(config, uri, collection="cli") | {
        "QA_INDEX_DIR": str(tmp_path / "index"), "HF_HUB_OFFLINE": "1"}

    def qa(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert qa("build")["counts"]["pages"] == len(list(config.seeds_dir.glob("*.txt")))
    (tmp_path / "zz_cli.txt").write_bytes(PAGE)
    added = qa("add", str(tmp_path / "zz_cli.txt"))
    assert added["added"] == ["zz_cli.txt"] and added["counts"]["pages"] == len(list(config.seeds_dir.glob("*.txt"))) + 1
    assert not (config.seeds_dir / "zz_cli.txt").exists()
    index = Collections(replace(config, store="milvus", milvus_uri=uri, milvus_collection="cli")).load()
    assert index.records.page("zz_cli.txt") is not None
    assert Collections(replace(config, store="milvus", milvus_uri=uri, milvus_collection="cli"), index.store.client).meta(
        ["zz_cli.txt"])["zz_cli.txt"]["sha256"] == hashlib.sha256(PAGE).hexdigest()


def test_a_full_rebuild_is_a_new_generation_that_servers_follow(own_collections):
    store, service = own_collections
    served = service.index
    follower = MilvusFollower(store, served.store.client, service.encoder.fingerprint)
    rebuilt = build(store, service.encoder, service.tokenizer, progress=False)
    assert rebuilt.manifest["generation"] == served.manifest["generation"] + 1
    newer = follower.newer(served)
    assert newer is not None and newer.manifest["generation"] == rebuilt.manifest["generation"]
    assert follower.newer(newer) is None, "nothing changed since"
    deadline = time.monotonic() + 30 * REFRESH_SECONDS  # the service's own follower, with no request made
    while service.snapshot.index.manifest["generation"] != rebuilt.manifest["generation"]:
        assert time.monotonic() < deadline, "the service did not follow the new generation on its own"
        time.sleep(REFRESH_SECONDS / 4)
    assert service.snapshot.records.names(), "its names were made when it was followed"


def term_records(collections: Collections) -> dict[str, str]:
    return {row["key"]: row["body"] for row in rows(collections.client, collections.names.records, 'kind == "term"',
                                                    ["key", "body"])}


def test_a_replaced_page_leaves_what_a_fresh_build_of_the_same_pages_holds(own_collections, tmp_path):
    """A page replaced (by itself with three sentences joined) and a Chinese page name added and removed:
    the document frequencies, counts and answers are those of a build of the resulting pages."""
    store, service = own_collections
    collections = Collections(store, service.index.store.client)
    before = collections.meta()
    name = sorted(before)[0]
    changed = (store.seeds_dir / name).read_text(encoding="utf-8").replace("。", "，", 3).encode()  # 3 sentences joined
    collections.update({"新闻版面.txt": PAGE}, service.encoder, service.tokenizer, None)
    assert "新闻版面.txt" in collections.page_names()
    collections.update({"新闻版面.txt": None, name: changed}, service.encoder, service.tokenizer, None)
    updated = collections.load()
    after = collections.meta()
    assert updated.records.page("新闻版面.txt") is None and "新闻版面.txt" not in after
    assert after[name]["sha256"] != before[name]["sha256"]
    shutil.copytree(store.seeds_dir, tmp_path / "seeds")
    (tmp_path / "seeds" / name).write_bytes(changed)
    fresh = replace(store, seeds_dir=tmp_path / "seeds", milvus_uri=str(tmp_path / "fresh.db"))
    rebuilt = build(fresh, service.encoder, service.tokenizer, progress=False)
    assert term_records(collections) == term_records(Collections(fresh, rebuilt.store.client))
    assert updated.manifest["counts"] == rebuilt.manifest["counts"]
    assert after == Collections(fresh, rebuilt.store.client).meta(), "sha256, size and counts of every page"


def test_a_full_rebuild_keeps_the_pages_added_through_updates(own_collections):
    store, service = own_collections
    pages = service.index.manifest["counts"]["pages"]
    Collections(store, service.index.store.client).update({"zz_kept.txt": PAGE}, service.encoder, service.tokenizer,
                                                          None)
    rebuilt = build(store, service.encoder, service.tokenizer, progress=False)
    assert rebuilt.records.page("zz_kept.txt") is not None and not (store.seeds_dir / "zz_kept.txt").exists()
    assert rebuilt.manifest["counts"]["pages"] == pages + 1


def test_a_follower_does_not_follow_collections_built_with_another_model(own_collections):
    store, service = own_collections
    served = service.index
    follower = MilvusFollower(store, served.store.client, "another-model-fingerprint")
    Collections(store, served.store.client).update({"zz_new.txt": PAGE}, service.encoder, service.tokenizer, None)
    assert follower.newer(served) is None, "a newer generation, but of another model: not followed"
    assert MilvusFollower(store, served.store.client, service.encoder.fingerprint).newer(served) is not None


def test_a_long_run_of_updates_leaves_the_open_connections_flat(config, service, milvus_uri):
    """Updates through a library go over the library's one client: this process's open files (sockets to the
    milvus-lite server among them) do not grow with the number of updates."""
    store = replace(config, **{"store": "milvus", "milvus_uri": milvus_uri, "milvus_collection": "connections"})
    backend = MilvusBackend()
    library = backend.library(store, partial(backend.build, store, service.encoder, service.tokenizer, progress=False),
                              lambda _: None)
    library.rebuild()

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    def add_and_remove() -> None:
        library.put({"zz_connections.txt": PAGE})
        library.remove(["zz_connections.txt"])

    add_and_remove()  # the first update opens what every later one reuses
    before = open_files()
    for _ in range(6):
        add_and_remove()
    assert open_files() <= before + 1, "12 updates, and no connection left open by any"


@pytest.mark.slow
def test_an_idle_connection_keeps_to_the_servers_ping_policy(config, tmp_path, capfd):
    """pymilvus pings every 10 s, idle or not. A gRPC server on its default policy (the milvus-lite server's) takes
    that as abuse and closes the connection ("too_many_pings"), and a later client may fail to reconnect (a CI run
    failed so). Here a Milvus Lite server bears one such ping instead of two: an idle client of ours sends none."""
    from concurrent import futures

    import grpc
    from milvus_lite.adapter.grpc.servicer import MilvusServicer
    from milvus_lite.db import MilvusLite
    from pymilvus.grpc_gen import milvus_pb2_grpc

    db = MilvusLite(str(tmp_path / "data"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=[("grpc.http2.max_ping_strikes", 1)])
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        client = connect(replace(config, store="milvus", milvus_uri=f"http://127.0.0.1:{port}"))
        client.list_collections()
        time.sleep(30)  # the default client's second ping comes after 20 s
        client.list_collections()
        client.close()
    finally:
        server.stop(grace=0)
        db.close()
    assert "too_many_pings" not in capfd.readouterr().err, "the server closed an idle connection for its pings"


def test_a_server_holds_only_the_passages_it_read(own_collections):
    """Loading an index reads the manifest alone; answering keeps the records read in a bounded LRU."""
    store, service = own_collections
    index = Collections(replace(store, records_cache=100), service.index.store.client).load()
    assert index.records.stats()["passages"]["entries"] == 0 and index.store.size == index.manifest["counts"]["chunks"]
    service.swap(index)
    for question in questions():
        service.ask(question)
    kept = service.health()["records_cache"]["passages"]
    assert 0 < kept["entries"] <= kept["size"] == 100
    assert kept["hits"] > kept["misses"] >= kept["entries"], "a request reads its passages again from the LRU"


def test_the_records_lru_keeps_the_most_recent_within_its_size():
    recent = LRU(3)
    for key in "abcd":
        recent.put(key, key.upper())
    assert recent.get("a") is None and recent.get("d") == "D" and len(recent) == 3
    recent.get("b")  # read: now the most recent
    recent.put("e", "E")
    assert recent.get("b") == "B" and recent.get("c") is None
    assert recent.stats() == {"entries": 3, "size": 3, "hits": 3, "misses": 2}
