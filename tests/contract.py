"""The OpenAPI document as a contract for replies: every response the tests receive is recorded, then checked.

Hand-written glue over libraries: werkzeug's router finds the documented route of a response and jsonschema
validates its body; a validator such as openapi-core would need a request object per response and cannot read
bodies the tests stream, nor apply the rules the document states in words (a path that is no route is a 404
Error, a method a route does not take a 405 Error).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx2
import jsonschema
import pytest
import requests
from flask.testing import FlaskClient
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

DOCUMENT = "urn:qa:openapi"
READ_BODIES = ("application/json", "text/event-stream")  # the media types whose bodies are kept and validated
UNROUTED = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden", 429: "rate_limited"}
OPERATIONS = ("get", "put", "post", "delete", "patch")
SWITCHED_OFF = "/api/admin/"  # routes that exist only when QA_ADMIN_KEY is set: else any method there is a 404


@dataclass(frozen=True)
class Seen:
    """One response as a test received it; `body` is None where the test streamed it or it is not data."""

    method: str
    path: str  # decoded, without the query
    status: int
    content_type: str
    body: bytes | None
    headers: frozenset[str] = frozenset()  # their names, lower case

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.content_type}"


def _check_content_schema(validator, schema, instance, parent):
    """contentSchema of a JSON string (an event's data): an annotation in JSON Schema, asserted by the contract."""
    if parent.get("contentMediaType") != "application/json" or not isinstance(instance, str):
        return
    try:
        decoded = json.loads(instance)
    except ValueError:
        yield jsonschema.ValidationError(f"not JSON: {instance[:80]!r}")
        return
    yield from validator.descend(decoded, schema)


Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"contentSchema": _check_content_schema})


class Contract:
    """Which documented reply a response is, and what in it disagrees with the document."""

    def __init__(self, document: dict):
        self.document = document
        # Every path parameter of the app is a `path` converter (ids may hold anything but a leading slash).
        rules = [Rule(re.sub(r"\{(\w+)\}", r"<path:\1>", path), endpoint=path,
                      methods=[m.upper() for m in item if m in OPERATIONS]) for path, item in document["paths"].items()]
        self.router = Map(rules).bind("localhost")
        self.registry = Registry().with_resource(DOCUMENT, DRAFT202012.create_resource(document))
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self.met: set[str] = set()  # the documented replies responses were checked against: "GET /path 200"

    def documented(self) -> set[str]:
        """Every reply the document gives, as "GET /path 200"."""
        return {f"{method.upper()} {path} {status}" for path, item in self.document["paths"].items()
                for method, operation in item.items() if method in OPERATIONS for status in operation["responses"]}

    def problem(self, seen: Seen) -> str | None:
        """What is wrong with a response, or None."""
        if seen.method in ("HEAD", "OPTIONS"):  # answered by Flask itself for every route (OPTIONS: CORS preflights)
            return None
        try:
            path, _ = self.router.match(seen.path, method=seen.method)
        except (NotFound, MethodNotAllowed) as unrouted:
            return self._unrouted(seen, unrouted.code)
        pointer = f"/paths/{_escape(path)}/{seen.method.lower()}/responses/{seen.status}"
        reply = self._resolve(pointer)
        if reply is None:
            return f"{seen}: status {seen.status} is not documented for {seen.method} {path}"
        self.met.add(f"{seen.method} {path} {seen.status}")
        pointer, reply = reply
        media_type = _media_type(seen.content_type)
        if media_type not in reply.get("content", {}):
            return f"{seen}: content type {media_type!r} is not documented (only {sorted(reply.get('content', {}))})"
        missing = [name for name, header in reply.get("headers", {}).items()
                   if header.get("required") and name.lower() not in seen.headers]
        if missing:
            return f"{seen}: no {', '.join(missing)} header"
        return self._body_problem(seen, f"{pointer}/content/{_escape(media_type)}/schema", media_type)

    def _unrouted(self, seen: Seen, status: int) -> str | None:
        """A path that is no route, a method a route does not take: an Error with the code of its status."""
        expected = {status, 401, 403, 429} | ({404} if seen.path.startswith(SWITCHED_OFF) else set())
        if seen.status not in expected:  # the key check and the rate limit come before routing
            return f"{seen}: no documented operation, expected {status}"
        if not seen.content_type.startswith("application/json"):
            return f"{seen}: not a JSON Error"
        problem = self._body_problem(seen, "/components/schemas/Error", "application/json")
        if problem or seen.body is None:  # None: the test streamed it
            return problem
        code, expected = json.loads(seen.body)["error"]["code"], UNROUTED[seen.status]
        return None if code == expected else f"{seen}: code {code!r}, not {expected}"

    def _body_problem(self, seen: Seen, schema_pointer: str, media_type: str) -> str | None:
        if seen.body is None or media_type not in READ_BODIES:
            return None
        text = seen.body.decode("utf-8", "replace")
        try:
            instances = sse_events(text) if media_type == "text/event-stream" else [json.loads(text)]
        except ValueError:
            return f"{seen}: the body is not JSON: {text[:80]!r}"
        validator = self.validator(schema_pointer)
        for instance in instances:
            error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
            if error is not None:
                return f"{seen}: {error.message[:300]} at {error.json_path}"
        return None

    def validator(self, pointer: str) -> jsonschema.protocols.Validator:
        """A validator of the schema at this JSON pointer of the document (its $refs resolved in the document)."""
        if pointer not in self._validators:
            self._validators[pointer] = Validator({"$ref": f"{DOCUMENT}#{pointer}"}, registry=self.registry)
        return self._validators[pointer]

    def _resolve(self, pointer: str) -> tuple[str, dict] | None:
        """The object at a pointer (following a $ref to a shared reply) and its own pointer; None if missing."""
        try:
            node = self.registry.resolver().lookup(f"{DOCUMENT}#{pointer}").contents
        except Unresolvable:
            return None
        return self._resolve(node["$ref"].removeprefix("#")) if "$ref" in node else (pointer, node)


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def sse_events(text: str) -> list[dict]:
    """The events of a Server-Sent Events body as {"event", "data"} (unnamed: "message"), as schemathesis reads them.

    Hand-written: a dozen lines of the WHATWG format (no id or retry fields here); the parsers on PyPI read
    from a live connection, not from a body already received.
    """
    events = []
    for block in re.split(r"\r?\n\r?\n", text):
        event, data = "message", []
        for line in block.splitlines():
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        if data:
            events.append({"event": event, "data": "\n".join(data)})
    return events


class Recorder:
    """The responses received through requests, httpx2 (the OpenAI client) and Flask's test client."""

    def __init__(self):
        self.seen: list[Seen] = []
        self._lock = threading.Lock()  # readers in threads (tests/test_updates.py)

    def add(self, method: str, path: str, status: int, headers: Mapping[str, str],
            body: Callable[[], bytes] | None) -> None:
        """Keep the body only of data replies the test did not stream (reading it then changes nothing)."""
        content_type = headers.get("Content-Type", "")
        kept = body() if body and _media_type(content_type) in READ_BODIES else None
        names = frozenset(name.lower() for name in headers.keys())
        with self._lock:
            self.seen.append(Seen(method.upper(), path, status, content_type, kept, names))

    def requests_send(self, send):
        def recorded(session, request, **kwargs):
            response = send(session, request, **kwargs)
            body = None if kwargs.get("stream") else lambda: response.content
            self.add(request.method, unquote(urlsplit(request.url).path), response.status_code, response.headers, body)
            return response
        return recorded

    def httpx_send(self, send):
        def recorded(client, request, **kwargs):
            response = send(client, request, **kwargs)
            body = None if kwargs.get("stream") else lambda: response.content
            self.add(request.method, request.url.path, response.status_code, response.headers, body)
            return response
        return recorded

    def flask_open(self, open_):
        def recorded(client, *args, **kwargs):
            response = open_(client, *args, **kwargs)
            self.add(response.request.method, response.request.path, response.status_code, response.headers,
                     None if response.is_streamed else response.get_data)
            return response
        return recorded


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record every response the tests receive while this lasts."""
    recorder = Recorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "send", recorder.requests_send(requests.Session.send))
        patch.setattr(httpx2.Client, "send", recorder.httpx_send(httpx2.Client.send))
        patch.setattr(FlaskClient, "open", recorder.flask_open(FlaskClient.open))
        yield recorder
