"""The OpenAPI document: valid OpenAPI 3.1, the app's very routes, and every reply conforms to it (those of the
whole suite, checked last, and those of a live server fuzzed by schemathesis)."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import replace

import pytest
import requests
import schemathesis
from contract import Contract, Seen, sse_events
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qa.config import ROOT, Config
from qa.web import create_app
from qa.web.openapi import VERSION, document

KEYS = {"read_key": "read-key-of-the-openapi-test", "admin_key": "admin-key-of-the-openapi-test"}
ADMIN_PATHS = ("/api/admin/documents", "/api/admin/documents/{name}")
FUZZ_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
               response_headers_conformance]
# The document of a server with the environment's settings, as live_server runs (compared with what it serves).
FUZZED = schemathesis.openapi.from_dict(document(Config.from_env()))


@pytest.fixture()
def contract(config) -> Contract:
    """The contract of a server with both keys (every route and reply documented), fresh for each test."""
    return Contract(document(replace(config, **KEYS)))


def operations_of_app(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of each route of a Flask app; HEAD and OPTIONS are Flask's own, static is unused."""
    return {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
            for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def operations_of(doc: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method != "parameters"}


@pytest.mark.parametrize("keys", [{}, KEYS], ids=["open", "keyed"])
def test_document_is_valid_openapi_3_1(config, keys):
    doc = document(replace(config, **keys))
    validate(doc)  # raises on an invalid document
    assert doc["openapi"].startswith("3.1")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert doc["info"]["version"] == project["version"] == VERSION


def test_every_route_is_documented_and_nothing_else(config, service):
    keyed = create_app(replace(config, **KEYS), service)
    assert operations_of_app(keyed) == operations_of(document(config))
    open_app = create_app(config, service)  # without an admin key there are no admin routes
    assert operations_of_app(open_app) == {op for op in operations_of(document(config)) if op[0] not in ADMIN_PATHS}


def test_the_server_serves_its_document_without_a_key(live_server, keyed_server, config):
    served = requests.get(live_server + "/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/json")
    assert served.json() == document(config) == FUZZED.raw_schema
    keyed = requests.get(keyed_server.url + "/openapi.json", timeout=10).json()
    assert keyed["security"] == [{"bearerKey": []}, {"apiKey": []}], "a key is needed: no empty alternative"
    assert document(config)["security"][0] == {}, "without a read key none is needed"


@pytest.mark.parametrize("path, body", [
    ("/api/chat", {"messages": [{"role": "user", "content": "表彰大会由谁主持？"}], "stream": True, "top_k": 2}),
    ("/v1/chat/completions", {"model": "qa-news-archive", "stream": True,
                              "messages": [{"role": "user", "content": "表彰大会由谁主持？"}]}),
])
def test_event_streams_conform(live_server, contract, path, body):
    reply = requests.post(live_server + path, json=body, timeout=60)  # read whole: the body is kept and checked
    seen = Seen("POST", path, reply.status_code, reply.headers["Content-Type"], reply.content)
    assert reply.status_code == 200 and seen.content_type.startswith("text/event-stream")
    assert contract.problem(seen) is None
    assert len(sse_events(reply.text)) >= 3


@pytest.mark.parametrize("seen, problem", [
    (Seen("POST", "/api/ask", 418, "application/json", b"{}"), "status 418 is not documented"),
    (Seen("GET", "/api/health", 200, "text/html", None), "content type 'text/html' is not documented"),
    (Seen("GET", "/api/articles", 200, "application/json",
          b'{"articles": [], "total": 0, "offset": 0, "limit": 20, "next_offset": null, "more": 1}'),
     "Additional properties"),
    (Seen("POST", "/api/ask", 400, "application/json", b'{"error": {"code": "no_such_code", "message": "x"}}'),
     "is not one of"),
    (Seen("GET", "/api/nothing", 200, "application/json", b"{}"), "no documented operation, expected 404"),
    (Seen("PATCH", "/api/ask", 405, "application/json", b'{"error": {"code": "not_found", "message": "x"}}'),
     "not method_not_allowed"),
    (Seen("POST", "/api/chat", 200, "text/event-stream", b'event: answer\ndata: {"delta": 5}\n\n'),
     "5 is not of type 'string'"),
    (Seen("POST", "/api/chat", 200, "text/event-stream", b"event: answer\ndata: {not json\n\n"),
     "is not valid under any of the given schemas"),
    (Seen("POST", "/v1/chat/completions", 200, "text/event-stream", b"data: [DONE]\n\n"), None),
    (Seen("GET", "/api/citations/a/b", 404, "application/json", b'{"error": {"code": "not_found", "message": "x"}}'),
     None),
    (Seen("GET", "/api/admin/documents", 429, "application/json",
          b'{"error": {"code": "rate_limited", "message": "x"}}', frozenset({"retry-after"})), None),
    (Seen("GET", "/api/articles", 429, "application/json", b'{"error": {"code": "rate_limited", "message": "x"}}'),
     "no Retry-After header"),
])
def test_the_contract_check_finds_what_disagrees(contract, seen, problem):
    found = contract.problem(seen)
    assert found is None if problem is None else problem in (found or ""), found


def report(request, line: str) -> None:
    """A line in the test run's output even when output is captured (the lead quotes these figures)."""
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\n{line}")


# -- fuzzing a live server -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzzed(request):
    """Cases per operation and the operations that failed; the summary is printed at the end of the module."""
    counts, failed = Counter(), set()
    yield counts, failed
    summary = (f"schemathesis: {sum(counts.values())} cases over {len(counts)} operations, "
               f"{len(failed)} operations failed{': ' + ', '.join(sorted(failed)) if failed else ''}")
    report(request, summary)


@FUZZED.parametrize()
@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # generating big bodies is slow on a loaded machine
def test_fuzzed_requests_get_documented_replies_and_no_5xx(case, live_server, fuzzed):
    """Valid and invalid requests generated from the document (bounded: derandomized, 50 examples a phase)."""
    counts, failed = fuzzed
    counts[case.operation.label] += 1
    try:
        case.call_and_validate(base_url=live_server, checks=FUZZ_CHECKS, timeout=60)
    except Exception:
        failed.add(case.operation.label)
        raise


# -- every reply of the suite ------------------------------------------------------------------------

@pytest.mark.slow  # the responses it checks come from the slow tier's servers and clients
def test_every_response_the_suite_received_conforms(request, received, contract):
    """Runs last: each response any test received (requests, the OpenAI client, Flask's test client)."""
    problems = Counter(problem for seen in received.seen if (problem := contract.problem(seen)))
    statuses = Counter(seen.status for seen in received.seen)
    report(request, f"contract: {len(received.seen)} responses checked (by status: {dict(sorted(statuses.items()))}), "
                    f"{sum(1 for s in received.seen if s.body is not None)} bodies validated; documented replies "
                    f"no test met: {', '.join(sorted(contract.documented() - contract.met)) or 'none'}")
    assert received.seen, "no response was recorded"
    listing = "\n".join(f"{n} x {problem}" for problem, n in problems.most_common(20))
    assert not problems, f"{sum(problems.values())} responses disagree with the document:\n{listing}"

