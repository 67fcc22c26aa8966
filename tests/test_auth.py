"""Access keys over a real server: the read key guards /api/* and /v1/*, the admin key the admin routes."""

from __future__ import annotations

import pytest
import requests

from qa.config import Config
from qa.web.auth import ADMIN, READ, Keys

QUESTION = {"question": "表彰大会由谁主持？", "top_k": 1}


def ask(server, headers=None):
    return requests.post(server.url + "/api/ask", json=QUESTION, headers=headers or {}, timeout=30)


def assert_error(reply, status, code):
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code


def test_read_routes_need_a_key(keyed_server):
    reply = ask(keyed_server)
    assert_error(reply, 401, "unauthorized")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/api/articles", "/api/citations/x", "/v1/models", "/v1/chat/completions"):
        assert_error(requests.get(keyed_server.url + path, timeout=10), 401, "unauthorized")


def test_read_key_as_bearer_or_x_api_key(keyed_server):
    assert ask(keyed_server, {"Authorization": f"Bearer {keyed_server.read_key}"}).status_code == 200
    assert ask(keyed_server, {"Authorization": f"bearer  {keyed_server.read_key} "}).status_code == 200
    assert ask(keyed_server, {"X-API-Key": keyed_server.read_key}).status_code == 200
    assert ask(keyed_server, {"X-API-Key": keyed_server.admin_key}).status_code == 200, "admin opens read routes"


@pytest.mark.parametrize("headers, status, code", [
    ({"Authorization": "Bearer not-the-key-0123456789"}, 403, "forbidden"),
    ({"X-API-Key": "not-the-key-0123456789"}, 403, "forbidden"),
    ({"X-API-Key": "密钥".encode()}, 403, "forbidden"),  # bytes that are not ASCII: no match, no 500
    ({"Authorization": "Basic cmVhZDprZXk="}, 401, "unauthorized"),  # another scheme: no key sent
    ({"Authorization": "Bearer ", "X-API-Key": ""}, 401, "unauthorized"),
])
def test_wrong_or_missing_key(keyed_server, headers, status, code):
    reply = ask(keyed_server, headers)
    assert_error(reply, status, code)
    assert "not-the-key" not in reply.text


def test_admin_routes_need_the_admin_key(keyed_server):
    url = keyed_server.url + "/api/admin/documents"
    assert_error(requests.get(url, timeout=10), 401, "unauthorized")
    assert_error(requests.get(url, headers=keyed_server.auth(keyed_server.read_key), timeout=10), 403, "forbidden")
    assert_error(requests.get(url, headers={"X-API-Key": "x" * 30}, timeout=10), 403, "forbidden")
    assert requests.get(url, headers=keyed_server.auth(), timeout=10).status_code == 200


def test_open_paths_need_no_key(keyed_server):
    assert requests.get(keyed_server.url + "/api/health", timeout=10).status_code == 200
    for path in ("/", "/widget.js"):
        assert requests.get(keyed_server.url + path, timeout=10).status_code not in (401, 403)
    # A CORS preflight carries no credentials by design; it reaches no handler.
    preflight = requests.options(keyed_server.url + "/api/ask", headers={
        "Origin": "https://news.example.com", "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code not in (401, 403)


def test_keys_are_never_logged(keyed_server):
    ask(keyed_server, {"X-API-Key": keyed_server.read_key})
    ask(keyed_server, {"Authorization": "Bearer wrong-key-never-logged-01"})
    requests.get(keyed_server.url + "/api/admin/documents", headers=keyed_server.auth(), timeout=10)
    log = keyed_server.log.read_text()
    assert keyed_server.read_key not in log and keyed_server.admin_key not in log
    assert "wrong-key-never-logged" not in log


def test_without_keys_everything_is_open_but_admin_is_off(live_server):
    assert requests.post(live_server + "/api/ask", json=QUESTION, timeout=30).status_code == 200
    for method in ("GET", "PUT", "DELETE"):
        reply = requests.request(method, live_server + "/api/admin/documents/x.txt", timeout=10)
        assert_error(reply, 404, "not_found")
    assert_error(requests.get(live_server + "/api/admin/documents", timeout=10), 404, "not_found")


def test_which_key_each_path_needs():
    keys = Keys(Config(read_key="r" * 16, admin_key="a" * 16))
    assert [keys.required(p) for p in ("/api/ask", "/v1/models", "/api/admin/documents", "/api/health", "/",
                                       "/widget.js", "/apix")] == [READ, READ, ADMIN, None, None, None, None]
    no_admin = Keys(Config(read_key="r" * 16))
    assert no_admin.required("/api/admin/documents") is None and not no_admin.admin_enabled
    assert Keys(Config()).required("/api/ask") is None


@pytest.mark.parametrize("settings, problem", [
    ({"read_key": "short"}, "read_key must be at least 16"),
    ({"admin_key": "has a space in it 0123"}, "admin_key must be at least 16"),
    ({"read_key": "k" * 20, "admin_key": "k" * 20}, "must differ"),
])
def test_weak_keys_are_refused(settings, problem):
    with pytest.raises(ValueError, match=problem) as caught:
        Config(**settings)
    assert all(value not in str(caught.value) for value in settings.values())


def test_keys_stay_out_of_the_config_repr():
    text = repr(Config(read_key="r" * 16 + "secret", admin_key="a" * 16 + "secret"))
    assert "secret" not in text
