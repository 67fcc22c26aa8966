"""The HTTP API over a real server process: answers with exact sources, and clean errors for bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from qa.indexing.manifest import FORMAT_VERSION
from qa.ingest.normalize import normalise

ASK_FIELDS = {"question", "answer", "passages", "timings_ms"}


def ask(url, body, **kwargs):
    return requests.post(url + "/api/ask", json=body, timeout=30, **kwargs)


def test_ask_returns_answer_with_exact_sources(api_server, service):
    reply = ask(api_server, {"question": "宣传活动一共制作了多少面展板？"})
    assert reply.status_code == 200
    body = reply.json()
    assert ASK_FIELDS <= set(body)
    answer = body["answer"]
    assert "20面" in answer["span_text"]
    assert answer["text"] == (answer["span_text"] if answer["span_confident"] else answer["sentence"])
    assert answer["sentence"][answer["highlight"]["start"] : answer["highlight"]["end"]] == answer["span_text"]
    assert 0 <= answer["confidence"] <= 1 and 0 <= answer["support"] <= 1
    raw = service.index.records.corpus.pages[answer["page"]]
    assert normalise(raw[answer["span"]["start"] : answer["span"]["end"]]) == answer["span_text"]
    s = answer["sentence_span"]
    assert normalise(raw[s["start"] : s["end"]]) == answer["sentence"]
    assert len(body["passages"]) == 5
    for passage in body["passages"]:
        src = passage["source"]
        page = service.index.records.corpus.pages[src["file"]]
        assert normalise(page[src["start"] : src["end"]]) == passage["text"]
        assert {"id", "title", "date", "reporters", "correspondents", "page"} <= set(passage["article"])
        for h in passage["highlights"]:
            assert passage["text"][h["start"] : h["end"]] == h["text"]
    assert set(body["timings_ms"]) == {"embed", "search", "answer", "total"}


def test_top_k_limits_passages(api_server):
    assert len(ask(api_server, {"question": "表彰大会由谁主持？", "top_k": 2}).json()["passages"]) == 2


def test_the_answer_does_not_depend_on_top_k(api_server):
    # The reader reads its top passages whatever the reply lists (with top_k 1 it once read one and refused).
    replies = [ask(api_server, {"question": "这篇报道中，谁主持了表彰大会？", "top_k": k}).json() for k in (1, 2, 5)]
    assert [len(r["passages"]) for r in replies] == [1, 2, 5]
    assert replies[0]["answer"] is not None
    assert replies[0]["answer"] == replies[1]["answer"] == replies[2]["answer"]


def test_out_of_archive_question_is_refused(api_server):
    body = ask(api_server, {"question": "上海迪士尼乐园的门票多少钱？"}).json()
    assert body["answer"] is None
    assert body["message"]
    assert body["passages"], "the closest passages are still shown"


def test_citation_lookup_returns_article_paragraph_and_span(api_server, service):
    answer = ask(api_server, {"question": "表彰大会由谁主持？"}).json()["answer"]
    reply = requests.get(f"{api_server}/api/citations/{answer['citation']}", timeout=10)
    assert reply.status_code == 200
    body = reply.json()
    raw = service.index.records.corpus.pages[body["passage"]["source"]["file"]]
    span = body["span"]
    assert normalise(raw[span["start"] : span["end"]]) == span["text"] == answer["sentence"]
    paragraph = body["paragraph"]["source"]
    assert paragraph["start"] <= span["start"] and span["end"] <= paragraph["end"]
    assert body["article"]["id"] and body["article"]["body"]
    passage_reply = requests.get(f"{api_server}/api/citations/{body['passage']['id']}", timeout=10).json()
    assert passage_reply["span"]["text"] == passage_reply["passage"]["text"]


def test_articles_list_and_detail(api_server):
    articles = requests.get(api_server + "/api/articles", timeout=10).json()["articles"]
    assert len(articles) >= 5 and {a["page"] for a in articles} >= {"000_e4c7cc7442eff8db.txt"}
    detail = requests.get(f"{api_server}/api/articles/{articles[0]['id']}", timeout=10).json()
    assert detail["id"] == articles[0]["id"] and detail["passages"]


def test_articles_come_a_page_at_a_time(api_server):
    """/api/articles: at most `limit` (default 20), the total, and the next page's offset until the last page."""
    first = requests.get(api_server + "/api/articles", timeout=10).json()
    assert len(first["articles"]) == first["limit"] == 20 and first["offset"] == 0
    seen, offset = [], 0
    for _ in range(first["total"]):  # bounded: at most one page per article
        page = requests.get(api_server + "/api/articles", params={"limit": 7, "offset": offset}, timeout=10).json()
        assert len(page["articles"]) <= 7 and page["total"] == first["total"]
        seen += [a["id"] for a in page["articles"]]
        if page["next_offset"] is None:
            break
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == first["total"]
    assert seen[:20] == [a["id"] for a in first["articles"]], "page order, the same on every page"


@pytest.mark.parametrize("params, code", [({"limit": 0}, "invalid_limit"), ({"limit": 101}, "invalid_limit"),
                                          ({"limit": "x"}, "invalid_limit"), ({"offset": -1}, "invalid_offset"),
                                          ({"offset": "1e3"}, "invalid_offset")])
def test_a_bad_page_gets_a_400(api_server, params, code):
    reply = requests.get(api_server + "/api/articles", params=params, timeout=10)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == code
    body = {"question": "冉红政写了哪些报道？"} | params
    reply = requests.post(api_server + "/api/ask", json=body, timeout=30)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == code


def test_a_list_answer_is_paged_by_limit_and_offset(api_server):
    question = {"question": "冉红政写了哪些报道？"}
    whole = requests.post(api_server + "/api/ask", json=question, timeout=30).json()["answer"]
    assert whole["total"] == len(whole["items"]) >= 3 and whole["next_offset"] is None
    page = requests.post(api_server + "/api/ask", json=question | {"limit": 2, "offset": 1}, timeout=30).json()["answer"]
    assert page["items"] == whole["items"][1:3] and page["total"] == whole["total"] and page["next_offset"] == 3
    assert page["text"].startswith(f"共{whole['total']}篇，第2–3篇：")
    chat = requests.post(api_server + "/api/chat", json={"messages": [{"role": "user", "content": question["question"]}],
                                                          "limit": 2}, timeout=30).json()
    assert chat["reply"].startswith(f"共{whole['total']}篇报道，这里是第1–2篇：\n\n1. 《")


def test_timings_cover_the_request(api_server):
    """`timings_ms.total` counts from the app's receipt of the request; Server-Timing adds the body's serialisation."""
    reply = requests.post(api_server + "/api/ask", json={"question": "宣传活动一共制作了多少面展板？"}, timeout=60)
    timings = reply.json()["timings_ms"]
    whole = float(reply.headers["Server-Timing"].removeprefix("app;dur="))
    assert 0 < timings["embed"] + timings["search"] + timings["answer"] <= timings["total"] <= whole
    reply = requests.post(api_server + "/api/chat", json={"messages": [{"role": "user", "content": "展板有多少面？"}]},
                          timeout=60)
    assert reply.json()["timings_ms"]["total"] <= float(reply.headers["Server-Timing"].removeprefix("app;dur="))


def test_health_reports_index(api_server):
    body = requests.get(api_server + "/api/health", timeout=10).json()
    assert body["ready"] is True
    assert body["index"]["counts"]["chunks"] > 0
    assert body["index"]["model"]["dimension"] == 384
    assert body["index"]["format_version"] == FORMAT_VERSION and body["index"]["built_at"]
    assert body["index"]["store"] in ("embedded", "milvus", "memory")  # tests/memory_store.py: the tests' own store


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "invalid_question"),
        ({"question": ""}, "invalid_question"),
        ({"question": "   "}, "invalid_question"),
        ({"question": 42}, "invalid_question"),
        ({"question": None}, "invalid_question"),
        ({"question": "问" * 1001}, "question_too_long"),
        ({"question": "谁主持？", "top_k": 0}, "invalid_top_k"),
        ({"question": "谁主持？", "top_k": 21}, "invalid_top_k"),
        ({"question": "谁主持？", "top_k": "5"}, "invalid_top_k"),
        ({"question": "谁主持？", "top_k": True}, "invalid_top_k"),
        ({"question": "谁主持？", "top_k": 2.5}, "invalid_top_k"),
        ({"question": "谁主持？", "extra": 1}, "unknown_field"),
        (["谁主持？"], "invalid_body"),
        ("谁主持？", "invalid_body"),
    ],
)
def test_bad_fields_get_400(api_server, body, code):
    reply = ask(api_server, body)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == code
    assert reply.json()["error"]["message"]


def _post(url, data: bytes, content_type: str | None):
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(url + "/api/ask", data=data, headers=headers, timeout=30)


@pytest.mark.parametrize(
    "data, content_type, status, code",
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"\xff\xfe\x00garbage", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (json.dumps({"question": "谁主持？"}).encode(), "text/plain", 415, "unsupported_media_type"),
        (json.dumps({"question": "谁主持？"}).encode(), None, 415, "unsupported_media_type"),
        (b'{"question": "' + b"a" * 1_100_000 + b'"}', "application/json", 413, "payload_too_large"),
    ],
)
def test_bad_bodies_get_clear_errors(api_server, data, content_type, status, code):
    reply = _post(api_server, data, content_type)
    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


def test_chunked_body_over_limit_gets_413(api_server):
    def chunks():
        yield b'{"question": "'
        for _ in range(12):
            yield b"a" * 100_000
        yield b'"}'

    reply = requests.post(api_server + "/api/ask", data=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        ("GET", "/api/ask", 405, "method_not_allowed"),
        ("DELETE", "/api/articles", 405, "method_not_allowed"),
        ("GET", "/api/nothing-here", 404, "not_found"),
        ("GET", "/api/citations/no-such-citation", 404, "not_found"),
        ("GET", "/api/citations/000_e4c7cc7442eff8db-a01-c01-s99", 404, "not_found"),
        ("GET", "/api/articles/no-such-article", 404, "not_found"),
        ("GET", "/api/citations/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404, "not_found"),
    ],
)
def test_routing_errors_are_json(api_server, method, path, status, code):
    reply = requests.request(method, api_server + path, timeout=10)
    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "data, code",
    [
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),  # deeper than the JSON parser's stack
        (b'{"question": "' + b"\\u4e00" * 10 + b'", "a": ' + b"1" * 5000 + b"}", "invalid_json"),  # int too long
        (b"null", "invalid_body"),
        (b'{"question": "\\ud800?"}', "invalid_question"),  # a lone surrogate is valid JSON, not text
        (b'{"question": "x", "\\ud800": 1}', "unknown_field"),
    ],
)
def test_hostile_json_gets_400_not_500(api_server, data, code):
    reply = _post(api_server, data, "application/json")
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "suffix",
    ["-s" + "9" * 5000, "-s1", "-s001", "-s99", "-s", "x"],
)
def test_only_issued_citation_ids_are_found(api_server, service, suffix):
    passage = service.index.records.corpus.chunks[0].id
    assert requests.get(f"{api_server}/api/citations/{passage}-s00", timeout=10).status_code == 200
    reply = requests.get(f"{api_server}/api/citations/{passage}{suffix}", timeout=10)
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


def test_method_not_allowed_names_the_allowed_methods(api_server):
    reply = requests.put(api_server + "/api/ask", json={"question": "谁？"}, timeout=10)
    assert reply.status_code == 405
    assert "POST" in reply.headers["Allow"]
    assert reply.headers["Content-Type"].startswith("application/json")


def test_body_far_over_the_limit_is_cut_off_by_the_server(api_server):
    """waitress itself refuses bodies over 4x the limit before buffering them (its reply is plain text)."""
    reply = _post(api_server, b'{"question": "' + b"a" * 4_100_000 + b'"}', "application/json")
    assert reply.status_code == 413


def test_concurrent_questions_are_all_answered(api_server):
    questions = ["表彰大会由谁主持？", "宣传活动一共制作了多少面展板？", "莲湖街道清除了几处菜地？"] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda q: ask(api_server, {"question": q, "top_k": 3}), questions, timeout=120))
    assert [r.status_code for r in replies] == [200] * len(questions)
    assert [r.json()["question"] for r in replies] == questions
