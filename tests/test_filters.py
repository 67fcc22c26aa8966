"""Metadata filters: the same articles pass on every path (records, chunk masks, Milvus expressions), retrieval
searches only what passes, and every route takes them or refuses them cleanly."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.errors import BadRequest
from qa.storage.ann import EXACT_WITHIN, FaissFlat, FaissHNSW, FaissIVF
from qa.storage.filters import NO_MATCH, Day, Filters, people
from qa.validate import parse_filters

SEED_FILTERS = [
    {"page": "000_e4c7cc7442eff8db.txt"},
    {"page": "004_ea33b374a10aa2cf"},  # a page's stem, as citation ids show it
    {"reporter": "冉红政"},
    {"reporter": "刘博闻"},  # a correspondent
    {"article": "003_e3e9c234e3938044-a01"},
    {"date_from": "12-20"},
    {"date_from": "12-17", "date_to": "12-20"},
    {"date_to": "2021-12-16"},  # a year against pages that print none: month and day are compared
    {"date_from": "12-20", "date_to": "06-08"},  # no year, across New Year: December's end and January to June 8
    {"page": "001_617c6fe821920274.txt", "date_from": "12-16"},
    {"reporter": "王不存在"},
    {"page": "999_missing.txt"},
]


def passing(service, filters: Filters) -> set[str]:
    return {a.id for a in service.index.records.corpus.articles.values() if filters.matches(a)}


@pytest.mark.parametrize("given", SEED_FILTERS, ids=json.dumps)
def test_chunk_masks_pass_the_articles_the_records_pass(service, given):
    filters = parse_filters(given)
    mask = service.index.records.table.mask(filters)
    masked = {c.article_id for c, keep in zip(service.index.records.corpus.chunks, mask) if keep}
    assert masked == passing(service, filters)


def test_seed_filters_are_not_all_trivial(service):
    """The cases above mean something on the seeds: some pass a few articles, some none, none pass all."""
    sizes = [len(passing(service, parse_filters(f))) for f in SEED_FILTERS]
    assert 0 in sizes and all(n < len(service.index.records.corpus.articles) for n in sizes)
    assert sum(1 for n in sizes if 0 < n) >= 8


def test_days_compare_on_month_and_day_without_a_year(service):
    assert Day.parse("--12-20") == Day(12, 20) and Day.parse("2021-12-20") == Day(12, 20, 2021)
    for bad in ("12/20", "2021-13-01", "20-12-2021", "", "--1220"):
        assert Day.parse(bad) is None
    article = next(a for a in service.index.records.corpus.articles.values() if a.day == "--12-21")
    dated = dataclasses.replace(article, day="2020-12-21")
    since = Filters(date_from=Day(12, 20, 2021))
    assert since.matches(article), "no year on the page: month and day decide"
    assert not since.matches(dated), "both years known: the year decides"
    assert not since.matches(dataclasses.replace(article, day=None)), "no printed date never passes"


def test_a_range_without_years_may_run_across_new_year(service):
    """12-20 to 01-05 without years: late December and early January pass, the months between do not; with both
    years given, the same order is refused."""
    article = next(a for a in service.index.records.corpus.articles.values() if a.day == "--12-21")
    holidays = parse_filters({"date_from": "12-20", "date_to": "01-05"})
    assert holidays.wraps and holidays.matches(article)
    assert holidays.matches(dataclasses.replace(article, day="--01-03"))
    assert not holidays.matches(dataclasses.replace(article, day="--06-08"))
    assert not holidays.matches(dataclasses.replace(article, day="--12-19"))
    assert not parse_filters({"date_from": "01-05", "date_to": "12-20"}).wraps
    for given in ({"date_from": "2021-12-20", "date_to": "2021-01-05"}, {"date_from": "2021-12-20", "date_to": "01-05"},
                  {"date_from": "12-20", "date_to": "2022-01-05"}):  # a year on either end: no wrapping
        with pytest.raises(BadRequest):
            parse_filters(given)


@pytest.mark.parametrize("given", SEED_FILTERS, ids=json.dumps)
def test_filtered_retrieval_returns_only_passing_articles_best_first(service, given):
    filters = parse_filters(given)
    allowed = passing(service, filters)
    hits = service.retriever.hybrid("党建工作观摩活动", 5, filters=filters)
    assert {h.chunk.article_id for h in hits} <= allowed
    chunks = sum(1 for c in service.index.records.corpus.chunks if c.article_id in allowed)
    assert len(hits) == min(5, chunks), "the top k are the best k that pass, not fewer"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_filter_reaches_passages_the_unfiltered_search_ranks_low(service):
    """Retrieval itself is filtered: an article far down the unfiltered list gives all its passages."""
    question = "宣传活动一共制作了多少面展板？"
    unfiltered = [h.chunk.article_id for h in service.retriever.hybrid(question, 5)]
    far = next(a for a in service.index.records.corpus.articles if a not in unfiltered and a.startswith("000_"))
    own = [c.id for c in service.index.records.corpus.chunks if c.article_id == far]
    hits = service.retriever.hybrid(question, 20, filters=Filters(article=far))
    assert sorted(h.chunk.id for h in hits) == sorted(own)


@pytest.mark.parametrize("given", SEED_FILTERS, ids=json.dumps)
def test_milvus_expressions_give_the_embedded_stores_replies(service, milvus_service, given):
    """Milvus filters by scalar fields and expressions, the embedded store by masks: the same replies."""
    filters = parse_filters(given)
    for question in ("党建工作观摩活动", "这篇报道是谁写的？"):
        embedded, milvus = service.ask(question, 5, filters=filters), milvus_service.ask(question, 5, filters=filters)
        embedded.pop("timings_ms"), milvus.pop("timings_ms")
        assert milvus == embedded, (question, given)


@pytest.mark.parametrize("backend", [FaissFlat, FaissHNSW, FaissIVF], ids=lambda b: b.kind)
@pytest.mark.parametrize("share", [0.01, 0.5])
def test_ann_search_within_allowed_ids_is_the_exact_top_among_them(backend, share):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3 * EXACT_WITHIN // 2 if share == 0.5 else 2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ann = backend()
    ann.build(vectors)
    allowed = np.flatnonzero(rng.random(len(vectors)) < share)
    query = vectors[:3]
    scores, ids = ann.search(query, 10, allowed)
    exact = np.argsort(-(query @ vectors[allowed].T), axis=1)[:, :10]
    for row, want in zip(ids, allowed[exact]):
        assert set(row[row >= 0]) <= set(allowed.tolist())
        recall = len(set(row.tolist()) & set(want.tolist())) / len(want)
        assert recall >= (1.0 if backend is FaissFlat or len(allowed) <= EXACT_WITHIN else 0.8)


def test_people_are_every_byline_role(service):
    article = next(a for a in service.index.records.corpus.articles.values() if a.correspondents)
    assert set(article.reporters) | set(article.correspondents) <= set(people(article))


# -- over HTTP ---------------------------------------------------------------------------------------------

def post(url: str, path: str, body: dict) -> requests.Response:
    return requests.post(url + path, json=body, timeout=60)


def test_ask_with_filters_over_http(api_server, service):
    body = post(api_server, "/api/ask", {"question": "观摩活动是哪天举行的？",
                                         "filters": {"page": "001_617c6fe821920274.txt"}}).json()
    assert body["filters"] == {"page": "001_617c6fe821920274.txt"}
    assert body["passages"] and all(p["source"]["file"] == "001_617c6fe821920274.txt" for p in body["passages"])
    assert body["answer"] is None or body["answer"]["page"] == "001_617c6fe821920274.txt"


def test_a_filter_that_matches_nothing_is_an_empty_result_not_an_error(api_server):
    reply = post(api_server, "/api/ask", {"question": "党建", "filters": {"reporter": "王不存在"}})
    assert reply.status_code == 200
    body = reply.json()
    assert body["answer"] is None and body["passages"] == [] and body["message"] == NO_MATCH
    listed = requests.get(api_server + "/api/articles", params={"reporter": "王不存在"}, timeout=10).json()
    assert listed == {"articles": [], "total": 0, "offset": 0, "limit": 20, "next_offset": None,
                      "filters": {"reporter": "王不存在"}, "message": NO_MATCH}


def test_articles_route_filters_by_query_parameters(api_server, service):
    listed = requests.get(api_server + "/api/articles", params={"reporter": "冉红政", "date_from": "12-21"},
                          timeout=10).json()["articles"]
    want = passing(service, parse_filters({"reporter": "冉红政", "date_from": "12-21"}))
    assert listed and {a["id"] for a in listed} == want


@pytest.mark.parametrize("filters, bad", [
    ({"date_from": "2021/12/20"}, "date_from"), ({"date_from": "12-32"}, "date_from"),
    ({"date_from": "2021-12-21", "date_to": "2021-12-20"}, "after"), ({"page": 3}, "page"), ({"reporter": ""}, "reporter"),
    ({"author": "冉红政"}, "author"), ("冉红政", "object"), ({"reporter": "冉\u0000红政"}, "control"),
])
def test_malformed_filters_get_400_with_a_stable_code(api_server, filters, bad):
    for path, body in (("/api/ask", {"question": "谁写的？"}),
                       ("/api/chat", {"messages": [{"role": "user", "content": "谁写的？"}]})):
        reply = post(api_server, path, body | {"filters": filters})
        assert reply.status_code == 400
        assert reply.json()["error"]["code"] == "invalid_filter" and bad in reply.json()["error"]["message"]


def test_repeated_query_parameter_is_refused(api_server):
    reply = requests.get(api_server + "/api/articles?page=a.txt&page=b.txt", timeout=10)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_filter"


def test_chat_and_openai_routes_take_filters(api_server, service):
    filters = {"reporter": "张改华"}
    allowed = passing(service, parse_filters(filters))
    messages = [{"role": "user", "content": "基层治理有什么做法？"}]
    chat = post(api_server, "/api/chat", {"messages": messages, "filters": filters}).json()
    assert chat["passages"] and {p["article"]["id"] for p in chat["passages"]} <= allowed
    completion = post(api_server, "/v1/chat/completions", {"model": service.config.model_name, "messages": messages,
                                                            "filters": filters}).json()
    assert completion["citations"] and all(c["id"].rsplit("-c", 1)[0] in allowed for c in completion["citations"])


FILTER_VALUES = st.none() | st.text(max_size=12) | st.integers() | st.lists(st.text(max_size=4), max_size=2)
FILTER_BODIES = st.dictionaries(st.sampled_from(["date_from", "date_to", "page", "reporter", "article", "x"]),
                                FILTER_VALUES, max_size=4) | FILTER_VALUES


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=FILTER_BODIES)
def test_any_filters_are_applied_or_refused_cleanly(client, filters):
    reply = client.post("/api/ask", json={"question": "党建", "filters": filters})
    assert reply.status_code in (200, 400), reply.get_data(as_text=True)[:300]
    if reply.status_code == 400:
        assert reply.get_json()["error"]["code"] == "invalid_filter"
