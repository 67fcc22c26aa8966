"""The admin API over a real server: pages listed, added, replaced and removed; bad pages refused, index untouched."""

from __future__ import annotations

import hashlib

import pytest
import requests

from qa.config import ROOT

PAGE = (ROOT / "tests" / "fixtures" / "update_page.txt").read_bytes()
QUESTION = "紫荆山街道社区图书馆新馆共收藏图书多少册？"  # only the fixture page says: 8.6万册


def documents(server) -> dict[str, dict]:
    reply = requests.get(server.url + "/api/admin/documents", headers=server.auth(), timeout=10)
    assert reply.status_code == 200
    return {d["name"]: d for d in reply.json()["documents"]}


def put(server, name, data, content_type="text/plain; charset=utf-8", **kwargs):
    headers = server.auth() | ({"Content-Type": content_type} if content_type else {})
    return requests.put(f"{server.url}/api/admin/documents/{name}", data=data, headers=headers, timeout=120, **kwargs)


def delete(server, name):
    return requests.delete(f"{server.url}/api/admin/documents/{name}", headers=server.auth(), timeout=120)


def answer(server, question=QUESTION):
    reply = requests.post(server.url + "/api/ask", json={"question": question}, headers=server.auth(), timeout=30)
    assert reply.status_code == 200
    return reply.json()["answer"]


def built_at(server) -> str:
    return requests.get(server.url + "/api/health", timeout=10).json()["index"]["built_at"]


def test_list_describes_every_page(keyed_server):
    listed = documents(keyed_server)
    files = sorted(keyed_server.seeds.glob("*.txt"))
    assert sorted(listed) == [p.name for p in files]
    for path in files:
        row = listed[path.name]
        assert row["bytes"] == path.stat().st_size
        assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert row["articles"] >= 1 and row["chunks"] >= row["articles"] and row["indexed"] is True
        assert row["skipped"] is None


def test_add_replace_and_remove_a_page(keyed_server):
    name = "zz_admin_page.txt"
    assert answer(keyed_server) is None, "not in the archive yet"
    added = put(keyed_server, name, PAGE)
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["document"] | {"name": name, "bytes": len(PAGE), "indexed": True} == body["document"]
    assert body["document"]["sha256"] == hashlib.sha256(PAGE).hexdigest()
    assert body["index"]["counts"]["pages"] == 6
    assert (keyed_server.seeds / name).read_bytes() == PAGE, "the page file is in the seeds folder, as sent"
    found = answer(keyed_server)
    assert "8.6万册" in found["text"] and found["page"] == name

    replaced = put(keyed_server, name, PAGE.replace("8.6万册".encode(), "9.1万册".encode()))
    assert replaced.status_code == 200, replaced.text
    assert "9.1万册" in answer(keyed_server)["text"]

    removed = delete(keyed_server, name)
    assert removed.status_code == 200 and removed.json()["index"]["counts"]["pages"] == 5
    assert not (keyed_server.seeds / name).exists()
    assert name not in documents(keyed_server)
    assert answer(keyed_server) is None or answer(keyed_server)["page"] != name
    assert delete(keyed_server, name).json()["error"]["code"] == "not_found"


def test_gbk_page_is_read_correctly(keyed_server):
    name = "zz_gbk_page.txt"
    data = PAGE.decode("utf-8").encode("gbk")
    assert put(keyed_server, name, data, content_type="application/octet-stream").status_code == 201
    try:
        assert documents(keyed_server)[name]["sha256"] == hashlib.sha256(data).hexdigest(), "stored as sent"
        found = answer(keyed_server)
        assert found["page"] == name and "8.6万册" in found["text"]
        citation = requests.get(f"{keyed_server.url}/api/citations/{found['citation']}", headers=keyed_server.auth(),
                                timeout=10).json()
        assert "紫荆山街道社区图书馆新馆" in citation["article"]["title"]
    finally:
        assert delete(keyed_server, name).status_code == 200


BAD_PAGES = [
    ("empty.txt", b"", 400, "empty_page"),
    ("blank.txt", "  \n\u3000\n\n".encode(), 400, "empty_page"),
    ("punctuation.txt", "'。，\n\n123".encode(), 400, "empty_page"),  # no word a reader could search for
    ("binary.txt", bytes(range(256)) * 40, 400, "unreadable_page"),
    ("latin.txt", "caf\xe9 cr\xe8me ".encode("latin-1") * 3 + b"\xff\xfe\xfd" * 20, 400, "unreadable_page"),
    ("too_large.txt", b"x" * 50_000_000, 413, "page_too_large"),  # 50 MB: far over QA_MAX_PAGE_BYTES
    ("%2E%2E%2Fescape.txt", PAGE, 400, "invalid_page_name"),  # ../escape.txt
    ("sub/page.txt", PAGE, 400, "invalid_page_name"),
    ("sub%2Fpage.txt", PAGE, 400, "invalid_page_name"),
    (".hidden.txt", PAGE, 400, "invalid_page_name"),
    ("page.md", PAGE, 400, "invalid_page_name"),
    ("page.TXT", PAGE, 400, "invalid_page_name"),
    ("has space.txt", PAGE, 400, "invalid_page_name"),
    ("x" * 120 + ".txt", PAGE, 400, "invalid_page_name"),
]


@pytest.mark.parametrize("name, data, status, code", BAD_PAGES, ids=[b[0][:20] for b in BAD_PAGES])
def test_bad_pages_are_refused_and_nothing_changes(keyed_server, name, data, status, code):
    before, built = documents(keyed_server), built_at(keyed_server)
    reply = put(keyed_server, name, data)
    assert reply.status_code == status, reply.text
    if code == "page_too_large" and "json" not in reply.headers.get("Content-Type", ""):
        assert "exceeds max_body" in reply.text  # far over the limit: waitress refuses it before buffering
    else:
        assert reply.json()["error"]["code"] == code and reply.json()["error"]["message"]
    assert documents(keyed_server) == before and built_at(keyed_server) == built, "index and folder untouched"
    assert sorted(p.name for p in keyed_server.seeds.iterdir()) == sorted(before), "no stray file"


def test_page_just_over_the_limit_gets_a_json_413(keyed_server):
    big = b"x" * 2_100_000  # 2.1 MB > QA_MAX_PAGE_BYTES (2 MB), < 4 x that (waitress's cap)
    reply = put(keyed_server, "big.txt", big)
    assert reply.status_code == 413
    assert reply.json()["error"] == {"code": "page_too_large",
                                     "message": "the page is 2100000 bytes; pages are at most 2000000 bytes "
                                                "(QA_MAX_PAGE_BYTES)"}
    chunked = put(keyed_server, "big.txt", (big[i:i + 65536] for i in range(0, len(big), 65536)))  # no length
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "page_too_large"
    assert not (keyed_server.seeds / "big.txt").exists()


def test_a_page_in_a_json_body_is_refused(keyed_server):
    reply = put(keyed_server, "page.txt", b'{"text": "..."}', content_type="application/json")
    assert reply.status_code == 415 and reply.json()["error"]["code"] == "unsupported_media_type"


def test_refusals_are_logged_with_their_reason(keyed_server):
    put(keyed_server, "binary.txt", bytes(range(256)) * 40)
    put(keyed_server, "%2E%2E%2Fetc.txt", PAGE)
    log = keyed_server.log.read_text()
    assert "refused page 'binary.txt': binary.txt: holds NUL bytes" in log
    assert "refused page '../etc.txt': '../etc.txt' is not a page name" in log


def test_concurrent_puts_queue_and_both_land(keyed_server):
    from concurrent.futures import ThreadPoolExecutor

    names = ["zz_queue_a.txt", "zz_queue_b.txt"]
    pages = [PAGE, PAGE.replace("紫荆山".encode(), "金水河".encode())]
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda args: put(keyed_server, *args), zip(names, pages)))
    try:
        assert [r.status_code for r in replies] == [201, 201]
        health = requests.get(keyed_server.url + "/api/health", timeout=10).json()
        assert health["index"]["counts"]["pages"] == 7, "the second build saw the first page: no update lost"
        assert all(documents(keyed_server)[n]["indexed"] for n in names)
    finally:
        for name in names:
            delete(keyed_server, name)
