"""The schemas of the OpenAPI document (qa/web/openapi.py): the building blocks of JSON Schema it writes with,
and every body and reply the API sends or takes."""

from __future__ import annotations

from qa.answers.kinds import KINDS, LIST
from qa.config import Config
from qa.storage.filters import FIELDS as FILTERS
from qa.storage.filters import LIST_LIMIT, MAX_LIST_LIMIT, NO_MATCH
from qa.validate import MAX_FILTER_CHARS, MAX_OFFSET, MAX_QUESTION_CHARS

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


# -- JSON Schema building blocks ------------------------------------------------------------------------------

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

def schemas(config: Config) -> dict:
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
        "Filters": closed({}, filter_schemas(), description=(
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


def filter_schemas() -> dict:
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
