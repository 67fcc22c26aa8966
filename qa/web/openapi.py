"""The OpenAPI 3.1 document of the HTTP API (every route, body, reply and error code) and its route, /openapi.json.

Built from the settings (the model name and the chat limits are in it). tests/test_openapi.py holds the app's
routes, every reply the test suite receives and a fuzzed live server to it: change a route, change this too.
Longer than 400 lines: it is the API's one contract, schemas beside the routes that use them.
"""

from __future__ import annotations

import copy
import functools

from flask import Blueprint, jsonify

from qa.answers.kinds import KINDS, LIST
from qa.config import Config
from qa.storage.filters import FIELDS as FILTERS
from qa.storage.filters import LIST_LIMIT, MAX_LIST_LIMIT, NO_MATCH
from qa.validate import MAX_FILTER_CHARS, MAX_OFFSET, MAX_QUESTION_CHARS
from qa.web.helpers import service

blueprint = Blueprint("openapi", __name__)

VERSION = "0.1.0"  # the project's version (pyproject.toml)
STRING, INTEGER, NUMBER, BOOLEAN = ({"type": name} for name in ("string", "integer", "number", "boolean"))
OFFSET = {"type": "integer", "minimum": 0}
PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
TOP_K = {"type": "integer", "minimum": 1, "maximum": 20, "default": 5, "description": "Passages returned."}
LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT, "default": LIST_LIMIT,
         "description": "Items of a list returned at most."}
START = {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0,
         "description": "Items of a list skipped (a reply's `next_offset` asks for its next page)."}
PAGING = {"total": {**INTEGER, "description": "Items in the whole list."}, "offset": OFFSET, "limit": INTEGER,
          "next_offset": {"type": ["integer", "null"], "minimum": 0, "description": "The offset of the next page; null at the last."}}
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
        "components": {"schemas": _schemas(config), "responses": _shared_responses(),
                       "securitySchemes": _security_schemes()},
    }


_INFO = (
    "Bodies are JSON (UTF-8) unless said otherwise. Every error is `Error`: `{\"error\": {\"code\", \"message\"}}` "
    "with a stable code; a path that is no route answers 404 `not_found`, a method a route does not take 405 "
    "`method_not_allowed` (with `Allow`). A body over 4 × the largest a route takes is refused by the HTTP server "
    "itself (413, plain text). Cross-origin preflights (OPTIONS) are answered for the origins in QA_CORS_ORIGINS.")


# -- schema helpers ------------------------------------------------------------------------------

def ref(name: str, kind: str = "schemas") -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def closed(required: dict, optional: dict | None = None, description: str = "") -> dict:
    """An object with these properties and no other (a new field is a change of the contract)."""
    schema = {"type": "object", "properties": required | (optional or {}), "required": list(required),
              "additionalProperties": False}
    return schema | ({"description": description} if description else {})


def array(items: dict, **limits) -> dict:
    return {"type": "array", "items": items, **limits}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def const(value) -> dict:
    return {"const": value}


def error_schema(*codes: str) -> dict:
    """The shared Error schema with its code narrowed to those this reply can carry."""
    return {"allOf": [ref("Error")], "properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}}


def json_reply(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_reply(description: str, *codes: str) -> dict:
    return json_reply(description, error_schema(*codes))


def json_text(schema: dict) -> dict:
    """A string holding JSON that matches `schema`."""
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def sse_event(data_by_event: dict[str, dict]) -> dict:
    """One Server-Sent Event as {"event", "data"} (an unnamed event is a "message"): the schema of an event
    stream's item, as Open API 3.2's `itemSchema` gives it and schemathesis reads `schema` before 3.2."""
    return {"type": "object", "required": ["event", "data"],
            "properties": {"event": {"enum": list(data_by_event)}, "data": STRING, "id": STRING, "retry": INTEGER},
            "oneOf": [{"properties": {"event": const(name), "data": data}} for name, data in data_by_event.items()]}


def text_reply(description: str, media_type: str) -> dict:
    return {"description": description, "content": {media_type: {"schema": STRING}}}


# -- schemas ---------------------------------------------------------------------------------------

def _schemas(config: Config) -> dict:
    article = {"id": STRING, "title": STRING, "kicker": nullable(STRING),
               "date": {**nullable(STRING), "description": "As printed (`12月21日`, `2021年12月23日`)."},
               "day": {**nullable(STRING), "description": "The date as `YYYY-MM-DD`, or `--MM-DD` when the page "
                                                          "prints no year: what the date filters compare."},
               "reporters": array(STRING), "correspondents": array(STRING), "photographers": array(STRING),
               "page": STRING}
    ask = {"question": STRING,
           "kind": {"enum": list(KINDS), "description": "The kind of answer the question asks for: `fact` from the "
                    "passages' text, the others from the article records (byline, date, page and headline, list)."},
           "answer": nullable(ref("Answer")), "passages": array(ref("Passage")),
           "timings_ms": closed({"embed": NUMBER, "search": NUMBER, "answer": NUMBER, "total": NUMBER})}
    refusal = {"message": {**STRING, "description": f"When `answer` is null: why; `{NO_MATCH}` when the filters "
                                                    "pass no article."},
               "confidence": {**PROBABILITY, "description": "Only when `answer` is null: the support found (the "
                                                 "probability that the best sentence holds the answer)."},
               "filters": ref("Filters"),
               "article": {**ref("ArticleSummary"), "description": "When a byline or date question is refused "
                                                                   "because the article prints none: that article."}}
    chat = ask | {
        "standalone_question": {**STRING, "description": "What was searched (a follow-up made standalone)."},
        "reply": {**STRING, "description": "The assistant's message; its [n] are 1-based positions in `passages`."}}
    counts = closed({"pages": INTEGER, "articles": INTEGER, "chunks": INTEGER})
    skipped = {"type": "object", "additionalProperties": STRING, "description": "Page file → why it was not indexed."}
    summary = {"counts": counts, "skipped": skipped, "built_at": STRING, "build_seconds": NUMBER}
    completion = {"id": STRING, "created": INTEGER, "model": STRING}
    return {
        "Error": closed({"error": closed({"code": STRING, "message": STRING})},
                        description="Every error reply; `code` is stable (README's error table)."),
        "Span": closed({"start": OFFSET, "end": OFFSET}, description="Character offsets into the raw page file."),
        "Source": closed({"file": STRING, "start": OFFSET, "end": OFFSET},
                         description="Character offsets into the raw page file `file`."),
        "ArticleSummary": closed(article),
        "Article": closed(article | {"body": STRING, "source": ref("Source"), "passages": array(STRING),
                                     "warnings": array(STRING)}),
        "Filters": closed({}, _filter_schemas(), description=(
            "Restricts retrieval itself to the articles that pass every filter given: the top k are the best k "
            "that pass. A filter that passes nothing gives an empty result with a `message`, not an error.")),
        "Answer": {"oneOf": [ref("FactAnswer"), ref("ListAnswer")]},
        "ListAnswer": closed({
            "kind": const(LIST),
            "text": {**STRING, "description": "The list in one line: `共N篇：《…》；《…》`."},
            "items": array(closed({"title": STRING, "citation": {**STRING, "description": "`<article id>-headline`."},
                                   "span": nullable(ref("Span")), "article": ref("ArticleSummary")}),
                           maxItems=MAX_LIST_LIMIT, description="One page (`limit` from `offset`); empty past the end."),
            "confidence": PROBABILITY, "support": PROBABILITY,
            "citation": {**nullable(STRING), "description": "The first item's citation."}, "page": nullable(STRING),
            **PAGING},
            description="The articles that the filters pass and the question's topic names (in its headline, "
                        "kicker, body, bylines or printed date), most prominent first, a page at a time (`limit`, "
                        "`offset` of the request); with no topic, in page order, or the newest first when no filter "
                        "narrows the archive. Each item cites its headline."),
        "FactAnswer": closed({
            "kind": {"enum": [k for k in KINDS if k != LIST]},
            "text": {**STRING, "description": "What to show: `span_text` when `span_confident`, else `sentence`; for "
                                              "a record answer the record's reading (`记者 柴琳琳；通讯员 刘博闻`)."},
            "span_confident": {**BOOLEAN, "description": "Whether the short answer is sure enough to be shown alone."},
            "span_text": {**STRING, "description": "The likeliest short answer (even when not confident)."},
            "sentence": {**STRING, "description": "The sentence holding `span_text`."},
            "highlight": closed({"start": OFFSET, "end": OFFSET},
                                description="Character offsets of `span_text` inside `sentence`."),
            "span": ref("Span"), "sentence_span": ref("Span"),
            "confidence": {**PROBABILITY, "description": "Calibrated probability that `span_text` is right."},
            "support": {**PROBABILITY, "description": "Probability that `sentence` holds the answer."},
            "citation": {**STRING, "description": "A sentence citation id `<passage id>-sNN`; for a record answer "
                                                  "`<article id>-byline`, `-date` or `-headline`."},
            "page": STRING},
            {"article": {**ref("ArticleSummary"), "description": "For a record answer: the article it is read from."}},
            description="`span` is where `span_text` is in the page file, `sentence_span` where `sentence` is. A "
                        "record answer (byline, date, page) quotes the printed byline, date or headline."),
        "Passage": closed({"citation": {**STRING, "description": "A passage citation id `<page stem>-aNN-cNN`."},
                           "score": NUMBER, "text": STRING,
                           "highlights": array(closed({"start": OFFSET, "end": OFFSET, "text": STRING})),
                           "article": ref("ArticleSummary"), "source": ref("Source")}),
        "AskRequest": closed({"question": _question()}, {"top_k": TOP_K, "filters": ref("Filters"), "limit": LIMIT,
                                                         "offset": START})
        | {"examples": [{"question": "宣传活动一共制作了多少面展板？", "top_k": 2}]},
        "AskReply": closed(ask, refusal),
        "CitationReply": closed({
            "id": STRING, "article": ref("Article"),
            "passage": closed({"id": STRING, "text": STRING, "source": ref("Source")}),
            "paragraph": closed({"text": STRING, "source": ref("Source")}),
            "span": closed({"text": STRING, "raw": STRING, "start": OFFSET, "end": OFFSET})}),
        "ArticleList": closed({"articles": array(ref("ArticleSummary"), maxItems=MAX_LIST_LIMIT), **PAGING},
                              {"filters": ref("Filters"), "message": {**STRING, "description": "When none passes."}}),
        "Health": closed({"ready": const(True),
                          "index": closed({"format_version": INTEGER, "store": {**STRING, "description": "The store's name (QA_STORE)."},
                                           "model": closed({"name": STRING, "dimension": INTEGER},
                                                           {"fingerprint": STRING}),
                                           **summary}),
                          "start_seconds": {**NUMBER, "description": "From the process's start to ready."},
                          "load_seconds": {**NUMBER, "description": "Of which loading the index (or building it when "
                                                                     "there was none)."}},
                         {"records_cache": {
                             "description": "With QA_STORE=milvus: the LRUs of the records this server read (passages: "
                                            "QA_RECORDS_CACHE of them; page texts).",
                             **closed({kind: closed({"entries": INTEGER, "size": INTEGER, "hits": INTEGER,
                                                     "misses": INTEGER}) for kind in ("passages", "pages")})}}),
        "ChatMessage": closed({"role": {"enum": ["user", "assistant"]},
                               "content": {**STRING, "maxLength": config.chat_max_chars}}),
        "ChatRequest": closed(
            {"messages": array(ref("ChatMessage"), minItems=1, maxItems=config.chat_max_messages,
                               description="The conversation so far, ending with the user's question (at most "
                                           f"{MAX_QUESTION_CHARS} characters, not only blanks).")},
            {"top_k": TOP_K, "stream": {**BOOLEAN, "default": False, "description": "Reply as Server-Sent Events."},
             "filters": ref("Filters"), "limit": LIMIT, "offset": START})
        | {"examples": [{"messages": [{"role": "user", "content": "莲湖街道拆除了多少平方米的棚亭杂屋？"},
                                      {"role": "assistant", "content": "拆除棚亭杂屋12间560平方米[1]"},
                                      {"role": "user", "content": "那“牛皮癣”清除了多少？"}]}]},
        "ChatReply": closed(chat, refusal),
        "ChatPassagesEvent": closed({"question": STRING, "standalone_question": STRING,
                                     "passages": array(ref("Passage"))}),
        "ChatDeltaEvent": closed({"delta": STRING}),
        "Model": closed({"id": STRING, "object": const("model"), "created": INTEGER, "owned_by": STRING}),
        "ModelList": closed({"object": const("list"), "data": array(ref("Model"))}),
        "ChatCompletionRequest": _completion_request(config),
        "Citation": closed({"index": {"type": "integer", "minimum": 1}, "id": STRING, "title": STRING, "file": STRING,
                            "start": OFFSET, "end": OFFSET, "quote": STRING},
                           {"passage": {**STRING, "description": "The passage id, if `id` is a sentence."}}),
        "ChatCompletion": closed(completion | {
            "object": const("chat.completion"),
            "choices": array(closed({"index": INTEGER,
                                     "message": closed({"role": const("assistant"), "content": STRING}),
                                     "finish_reason": const("stop")}), minItems=1, maxItems=1),
            "usage": closed({"prompt_tokens": INTEGER, "completion_tokens": INTEGER, "total_tokens": INTEGER},
                            description="Characters, not tokens."),
            "citations": array(ref("Citation")), "standalone_question": STRING}),
        "ChatCompletionChunk": closed(completion | {
            "object": const("chat.completion.chunk"),
            "choices": array(closed({"index": INTEGER,
                                     "delta": closed({}, {"role": const("assistant"), "content": STRING}),
                                     "finish_reason": nullable(const("stop"))}), minItems=1, maxItems=1),
        }, {"citations": array(ref("Citation")), "standalone_question": STRING}),
        "Document": closed({"name": STRING, "bytes": INTEGER, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "articles": INTEGER, "chunks": INTEGER, "indexed": BOOLEAN, "skipped": nullable(STRING)}),
        "IndexSummary": closed(summary | {"encoded_chunks": INTEGER}),
        "DocumentList": closed({"documents": array(ref("Document"))}),
        "DocumentWritten": closed({"document": ref("Document"), "index": ref("IndexSummary")}),
        "DocumentRemoved": closed({"removed": STRING, "index": ref("IndexSummary")}),
    }


def _filter_schemas() -> dict:
    """The schema of each filter (qa/storage/filters.py), for the Filters object and /api/articles' query parameters."""
    filters = {name: {**STRING, "maxLength": MAX_FILTER_CHARS} for name in FILTERS}
    day = {"type": "string", "pattern": r"^\s*(?:\d{4}-|--)?\d{1,2}-\d{1,2}\s*$",
           "description": "A day, `YYYY-MM-DD` or `MM-DD` (inclusive); without a year on either side, month and "
                          "day are compared. An article without a printed date never passes."}
    return filters | {"date_from": day, "date_to": day,
                      "page": {**filters["page"], "description": "A page file name (or its stem)."},
                      "reporter": {**filters["reporter"], "description": "A reporter, correspondent or photographer."},
                      "article": {**filters["article"], "description": "An article id."}}


def _question() -> dict:
    return {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS, "pattern": r"\S",
            "description": "The question (trimmed; not only blanks)."}


def _completion_request(config: Config) -> dict:
    """OpenAI's body: system/developer messages are dropped, a list of text parts is joined, other options
    (temperature, ...) are accepted and have no effect."""
    part = {"type": "object", "properties": {"type": const("text"), "text": STRING}, "required": ["type", "text"]}
    message = {"type": "object", "required": ["role", "content"],
               "properties": {"role": {"enum": ["system", "developer", "user", "assistant"]},
                              "content": {"anyOf": [STRING, array(part)]}}}
    example = {"model": config.model_name, "messages": [{"role": "user", "content": "表彰大会由谁主持？"}]}
    return {"type": "object", "required": ["model", "messages"], "description": _completion_request.__doc__,
            "examples": [example],
            "properties": {"model": const(config.model_name),
                           "messages": array(message, minItems=1, description=(
                               "Ending with the user's question; at most QA_CHAT_MAX_MESSAGES user and assistant "
                               "messages.")),
                           "stream": {**BOOLEAN, "default": False}, "top_k": TOP_K,
                           "filters": {**ref("Filters"), "description": "An extra field: the filters of /api/ask."}}}


# -- replies -----------------------------------------------------------------------------------------

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
                                                  for name, schema in (_filter_schemas()
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
