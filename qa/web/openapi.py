"""The OpenAPI 3.1 document of the HTTP API (every route, body, reply and error code) and its route, /openapi.json.

Built from the settings (the model name and the chat limits are in it). tests/test_openapi.py holds the app's
routes, every reply the test suite receives and a fuzzed live server to it: change a route, change this too.
Its schemas are in qa/web/openapi_schemas.py.
"""

from __future__ import annotations

import copy
import functools

from flask import Blueprint, jsonify

from qa.config import Config
from qa.web.helpers import service
from qa.web.openapi_schemas import (
    LIMIT,
    START,
    STRING,
    const,
    error_reply,
    error_schema,
    filter_schemas,
    json_reply,
    json_text,
    ref,
    schemas,
    sse_event,
    text_reply,
)

blueprint = Blueprint("openapi", __name__)

VERSION = "0.1.0"  # the project's version (pyproject.toml)
# The codes of a 400 on each JSON route (qa/validate.py); `bad_request`: any other malformed request.
ASK_400 = ("invalid_json", "invalid_body", "invalid_question", "question_too_long", "invalid_top_k", "invalid_filter",
           "invalid_limit", "invalid_offset", "unknown_field", "bad_request")
OPENAI_400 = ("invalid_json", "invalid_body", "invalid_messages", "too_many_messages", "message_too_long",
              "invalid_question", "question_too_long", "invalid_top_k", "invalid_stream", "invalid_filter",
              "invalid_limit", "invalid_offset", "bad_request")
CHAT_400 = (*OPENAI_400, "unknown_field")
PAGE_400 = ("invalid_page_name", "unreadable_page", "empty_page", "bad_request")
KEY_HEADERS = "`Authorization: Bearer <key>` or `X-API-Key: <key>`"


@blueprint.get("/openapi.json")
def openapi_json():
    return jsonify(_built(service().config))


def document(config: Config) -> dict:
    """The whole document for a server with these settings (a copy: the caller may change it)."""
    return copy.deepcopy(_built(config))


@functools.lru_cache(maxsize=8)
def _built(config: Config) -> dict:
    """The document, made once per settings: /openapi.json serves it without building it on every GET."""
    read = [{"bearerKey": []}, {"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "qa: questions answered with exact citations over Chinese newspaper pages",
                 "version": VERSION, "description": _INFO},
        "security": read if config.read_key else [{}, *read],
        "paths": _paths(config),
        "components": {"schemas": schemas(config), "responses": _shared_responses(),
                       "securitySchemes": _security_schemes()},
    }


_INFO = (
    "Bodies are JSON (UTF-8) unless said otherwise. Every error is `Error`: `{\"error\": {\"code\", \"message\"}}` "
    "with a stable code; a path that is no route answers 404 `not_found`, a method a route does not take 405 "
    "`method_not_allowed` (with `Allow`). A body over 4 × the largest a route takes is refused by the HTTP server "
    "itself (413, plain text). Cross-origin preflights (OPTIONS) are answered for the origins in QA_CORS_ORIGINS.")


def _shared_responses() -> dict:
    return {
        "Unauthorized": {**error_reply(f"A key is needed ({KEY_HEADERS}).", "unauthorized"),
                         "headers": {"WWW-Authenticate": {"required": True, "schema": STRING}}},
        "Forbidden": error_reply("The key sent does not open this route.", "forbidden"),
        "RateLimited": {**error_reply("Over QA_RATE_LIMIT for this client (its key, or its address).", "rate_limited"),
                        "headers": {"Retry-After": {"required": True, "description": "Seconds to wait.",
                                                    "schema": {"type": "integer", "minimum": 0}}}},
        "PayloadTooLarge": {"description": "The body is over QA_MAX_BODY_BYTES (plain text from the HTTP server "
                                           "itself past 4 × that).",
                            "content": {"application/json": {"schema": error_schema("payload_too_large")},
                                        "text/plain": {"schema": STRING}}},
        "UnsupportedMediaType": error_reply("The body is not sent as JSON.", "unsupported_media_type"),
    }


def _security_schemes() -> dict:
    return {
        "bearerKey": {"type": "http", "scheme": "bearer",
                      "description": "`Authorization: Bearer <key>`: the read key (QA_READ_KEY) or the admin key "
                                     "(QA_ADMIN_KEY), which opens every route."},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The same key, as a header."},
    }


def _keyed(status: dict) -> dict:
    """The replies of a route behind the read key and the rate limit, added to its own."""
    return status | {"401": ref("Unauthorized", "responses"), "403": ref("Forbidden", "responses"),
                     "429": ref("RateLimited", "responses")}


def _json_post(schema: str, replies: dict, codes: tuple[str, ...], summary: str, description: str = "") -> dict:
    """A route taking a JSON body."""
    operation = {"summary": summary} | ({"description": description} if description else {})
    return operation | {
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(schema)}}},
        "responses": _keyed(replies | {"400": error_reply("The body is not a valid request.", *codes),
                                       "413": ref("PayloadTooLarge", "responses"),
                                       "415": ref("UnsupportedMediaType", "responses")})}


def _get(summary: str, replies: dict, security: list | None = None, parameters: list | None = None) -> dict:
    operation = {"summary": summary, "responses": replies}
    operation |= {"security": security} if security is not None else {}
    return operation | ({"parameters": parameters} if parameters else {})


def _by_id(summary: str, schema: str, parameter: dict) -> dict:
    """A GET of one thing by its id."""
    replies = {"200": json_reply("Found.", ref(schema)), "404": error_reply("No such id.", "not_found")}
    return _get(summary, _keyed(replies), parameters=[parameter])


def _path_parameter(name: str, description: str, example: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}, "example": example}


def _paths(config: Config) -> dict:
    stream_note = ("With `\"stream\": true` the reply is Server-Sent Events (the schema is that of one event, "
                   "its data JSON text). A failure after the stream started ends it with an error event; a bad "
                   "request is refused before, as JSON.")
    return {
        "/api/ask": {"post": _json_post("AskRequest", {"200": json_reply(
            "The answer (or a refusal: `answer` null, with `message` and `confidence`) and the passages.",
            ref("AskReply"))}, ASK_400, "Answer a question with exact citations.")},
        "/api/citations/{citation_id}": {"get": _by_id(
            "What a citation id points at: article, passage, paragraph, cited span.", "CitationReply",
            _path_parameter("citation_id", "A passage id, a sentence id or an article field id (`-headline`, `-byline`, "
                                           "`-date`), as the replies give them.",
                            "002_d1b9c29a276e9447-a04-c02-s01"))},
        "/api/articles": {"get": _get("The articles (summaries) in page order, a page at a time (`limit`, `offset`); "
                                      "the other query parameters filter them as /api/ask's filters do.",
                                      _keyed({"200": json_reply("One page of the articles.", ref("ArticleList")),
                                              "400": error_reply("A malformed filter, limit or offset.",
                                                                 "invalid_filter", "invalid_limit", "invalid_offset")}),
                                      parameters=[{"name": name, "in": "query", "required": False, "schema": schema}
                                                  for name, schema in (filter_schemas()
                                                                       | {"limit": LIMIT, "offset": START}).items()])},
        "/api/articles/{article_id}": {"get": _by_id(
            "One article with its body and passage ids.", "Article",
            _path_parameter("article_id", "An article id `<page stem>-aNN`.", "002_d1b9c29a276e9447-a04"))},
        "/api/health": {"get": _get("Readiness and a summary of the index (no key, no rate limit).",
                                    {"200": json_reply("Ready.", ref("Health"))}, security=[])},
        "/api/chat": {"post": _json_post("ChatRequest", {"200": {
            "description": "The /api/ask reply plus `standalone_question` and `reply`; or its stream.",
            "content": {"application/json": {"schema": ref("ChatReply")},
                        "text/event-stream": {"schema": sse_event({
                            "passages": json_text(ref("ChatPassagesEvent")), "answer": json_text(ref("ChatDeltaEvent")),
                            "done": json_text(ref("ChatReply")), "error": json_text(ref("Error"))})}}}},
            CHAT_400, "Answer a conversation's last question, the earlier turns as context.", stream_note)},
        "/v1/models": {"get": _get("The one model (OpenAI-compatible).",
                                   _keyed({"200": json_reply("The models.", ref("ModelList"))}))},
        "/v1/chat/completions": {"post": _completion(config, stream_note)},
        "/api/admin/documents": {"get": _admin("The page files of the archive and what the index holds of each.",
                                               {"200": json_reply("The pages.", ref("DocumentList"))})},
        "/api/admin/documents/{name}": {
            "parameters": [_path_parameter("name", "A page file name: letters, digits, `_`, `-`, `.`, ending `.txt`.",
                                           "005_morning_edition.txt")],
            "put": _admin("Add or replace a page (the raw file as the body, UTF-8 or GB18030); the index is rebuilt "
                          "and swapped before the reply.", {
                              "200": json_reply("Replaced.", ref("DocumentWritten")),
                              "201": json_reply("Added.", ref("DocumentWritten")),
                              "400": error_reply("Not a page name, or not a page with text.", *PAGE_400),
                              "413": {"description": "Over QA_MAX_PAGE_BYTES.", "content": {
                                  "application/json": {"schema": error_schema("page_too_large", "payload_too_large")},
                                  "text/plain": {"schema": STRING}}},
                              "415": error_reply("Not sent as text/plain or application/octet-stream.",
                                                 "unsupported_media_type")},
                          body={"text/plain": {"schema": STRING}, "application/octet-stream": {"schema": STRING}}),
            "delete": _admin("Remove a page; the index is rebuilt and swapped before the reply.", {
                "200": json_reply("Removed.", ref("DocumentRemoved")),
                "400": error_reply("Not a page name.", "invalid_page_name"),
                "409": error_reply("It is the archive's last page.", "last_page")}),
        },
        "/": {"get": _get("A demo page with the chat widget.", {"200": text_reply("The page.", "text/html")},
                          security=[])},
        "/widget.js": {"get": _get("The chat widget's script.", {"200": text_reply("The script.", "text/javascript")},
                                   security=[])},
        "/openapi.json": {"get": _get("This document.", {"200": json_reply("OpenAPI 3.1.", {"type": "object"})},
                                      security=[])},
    }


def _completion(config: Config, stream_note: str) -> dict:
    operation = _json_post("ChatCompletionRequest", {"200": {
        "description": "A chat.completion whose content is the reply with [n] markers; or its stream of "
                       "chat.completion.chunk, ending with `data: [DONE]`.",
        "content": {"application/json": {"schema": ref("ChatCompletion")},
                    "text/event-stream": {"schema": sse_event({"message": {"anyOf": [
                        const("[DONE]"), json_text({"anyOf": [ref("ChatCompletionChunk"), ref("Error")]})]}})}}}},
        OPENAI_400, "The same chat, OpenAI-compatible.", stream_note)
    operation["responses"]["404"] = error_reply(f"Another model than {config.model_name!r}.", "model_not_found")
    return operation


def _admin(summary: str, replies: dict, body: dict | None = None) -> dict:
    """A route under /api/admin: it exists only when QA_ADMIN_KEY is set, and needs that key."""
    operation = {"summary": summary, "description": "Only when QA_ADMIN_KEY is set (else 404); needs the admin key.",
                 "security": [{"bearerKey": []}, {"apiKey": []}], "responses": _keyed(replies | {
                     "404": error_reply("No such page, or no admin routes (QA_ADMIN_KEY unset).", "not_found")})}
    return operation | ({"requestBody": {"required": True, "content": body}} if body else {})
