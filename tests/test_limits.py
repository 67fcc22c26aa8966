"""Rate limits (429 with Retry-After, per client), security headers and the connection timeout setting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa.web import create_app


@pytest.fixture()
def limited(config, service):
    """An app over the session's service with a limit of 3 requests a minute."""
    return create_app(replace(config, rate_limit="3/minute"), service).test_client()


def test_over_the_limit_is_429_with_retry_after(limited):
    for _ in range(3):
        assert limited.get("/api/articles").status_code == 200
    reply = limited.post("/api/ask", json={"question": "表彰大会由谁主持？"})
    assert reply.status_code == 429
    assert reply.json["error"]["code"] == "rate_limited"
    assert 0 < int(reply.headers["Retry-After"]) <= 60


def test_health_and_pages_are_never_limited(limited):
    for _ in range(5):
        assert limited.get("/api/health").status_code == 200
        with limited.get("/widget.js") as script:  # a file response: closed, or its file stays open
            assert script.status_code == 200


def test_each_address_has_its_own_count(limited):
    for _ in range(3):
        limited.get("/api/articles")
    assert limited.get("/api/articles").status_code == 429
    other = limited.get("/api/articles", environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 200


def test_with_keys_each_key_has_its_own_count(config, service):
    keyed = replace(config, rate_limit="2/minute", read_key="read-key-of-the-limits-test", admin_key="")
    client = create_app(keyed, service).test_client()
    for _ in range(2):
        assert client.get("/api/articles", headers={"X-API-Key": keyed.read_key}).status_code == 200
    assert client.get("/api/articles", headers={"X-API-Key": keyed.read_key}).status_code == 429
    # a wrong key from the same address counts against the address, not the key: refused, not limited
    assert client.get("/api/articles", headers={"X-API-Key": "wrong-key-of-the-limits-test"}).status_code == 403


def test_made_up_keys_do_not_open_new_counts(config, service):
    keyed = replace(config, rate_limit="2/minute", read_key="read-key-of-the-limits-test", admin_key="")
    client = create_app(keyed, service).test_client()
    for n in range(2):  # the real key, with a different made-up X-API-Key each time: still the real key's count
        headers = {"Authorization": f"Bearer {keyed.read_key}", "X-API-Key": f"made-up-key-number-{n}"}
        assert client.get("/api/articles", headers=headers).status_code == 200
    headers = {"Authorization": f"Bearer {keyed.read_key}", "X-API-Key": "made-up-key-number-2"}
    assert client.get("/api/articles", headers=headers).status_code == 429


def test_wrong_keys_are_counted_against_the_address(config, service):
    keyed = replace(config, rate_limit="2/minute", read_key="read-key-of-the-limits-test", admin_key="")
    client = create_app(keyed, service).test_client()
    codes = [client.get("/api/articles", headers={"X-API-Key": f"guess-number-{n:04d}-of-the-key"}).status_code
             for n in range(3)]
    assert codes == [403, 403, 429], "key guessing is rate limited"


@pytest.mark.parametrize("rate", ["120", "fast", "1/fortnight", "5/minute;"])
def test_a_malformed_limit_is_refused(config, rate):
    with pytest.raises(ValueError, match="rate_limit"):
        replace(config, rate_limit=rate)


def test_security_headers(client):
    with client.get("/") as page:
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for path in ("/widget.js", "/api/health", "/v1/models"):
        with client.get(path) as reply:
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
            assert reply.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
