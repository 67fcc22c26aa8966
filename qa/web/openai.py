"""The /v1 blueprint: an OpenAI-compatible chat completions API over the same chat, citations included."""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, g, jsonify

from qa.errors import NotFound, quoted
from qa.ingest.citations import is_sentence_of
from qa.validate import check_chat
from qa.web.helpers import chat, event_stream, json_body, service, sse, stream_errors

blueprint = Blueprint("openai", __name__, url_prefix="/v1")
_CREATED = 1_764_000_000  # a fixed "created" time for the one model (OpenAI lists one per model)


@blueprint.get("/models")
def models():
    name = service().config.model_name
    return jsonify({"object": "list", "data": [{"id": name, "object": "model", "created": _CREATED, "owned_by": "qa"}]})


@blueprint.post("/chat/completions")
def completions():
    config = service().config
    body = json_body()
    messages, top_k, stream, filters, paging = check_chat(_plain_messages(body), config.chat_max_messages,
                                                  config.chat_max_chars, strict=False)
    if body.get("model") != config.model_name:
        raise NotFound(f"no model {quoted(str(body.get('model')))}; GET /v1/models lists the one there is: "
                       f"{config.model_name!r}", code="model_not_found")
    completion = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": config.model_name}
    if not stream:
        reply = chat().reply(messages, top_k, filters, paging, g.started)
        return jsonify(completion | {
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply["reply"]},
                         "finish_reason": "stop"}],
            "usage": _usage(messages, reply["reply"]),
        } | _extras(reply))
    chunks = _chunks(completion | {"object": "chat.completion.chunk"}, chat().events(messages, top_k, filters, paging, g.started))
    return event_stream(stream_errors(chunks, lambda error: sse(error.to_json())))


def _chunks(head: dict, events) -> object:
    """The reply as chat.completion.chunk objects: the role, the text piece by piece, then the finish with
    the citations, then [DONE]."""
    yield sse(head | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
    for name, data in events:
        if name == "answer":
            yield sse(head | {"choices": [{"index": 0, "delta": {"content": data["delta"]}, "finish_reason": None}]})
        elif name == "done":
            yield sse(head | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]} | _extras(data))
    yield "data: [DONE]\n\n"


def _plain_messages(body: object) -> object:
    """OpenAI's message forms made plain: system/developer messages dropped (an extractive answer follows
    no instructions), content given as a list of text parts joined."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return body
    messages = []
    for message in body["messages"]:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            continue
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            texts = [p.get("text") for p in message["content"] if isinstance(p, dict) and p.get("type") == "text"]
            plain = all(isinstance(p, dict) for p in message["content"]) and all(isinstance(t, str) for t in texts)
            message = message | {"content": "".join(texts) if plain else None}  # None: refused as invalid
        messages.append(message)
    return body | {"messages": messages}


def _extras(reply: dict) -> dict:
    """What the OpenAI format has no field for: the citations behind the [n] markers, what was searched."""
    return {"citations": citations(reply), "standalone_question": reply["standalone_question"]}


def citations(reply: dict) -> list[dict]:
    """One citation per passage, in [n] order. The answer's passage is cited by its answering sentence."""
    answer = reply["answer"]
    cited = []
    for n, passage in enumerate(reply["passages"], 1):
        source = passage["source"]
        entry = {"index": n, "id": passage["citation"], "title": passage["article"]["title"], "file": source["file"],
                 "start": source["start"], "end": source["end"], "quote": passage["text"]}
        if answer and is_sentence_of(answer["citation"], passage["citation"]):
            span = answer["sentence_span"]
            entry |= {"id": answer["citation"], "start": span["start"], "end": span["end"], "quote": answer["sentence"],
                      "passage": passage["citation"]}
        cited.append(entry)
    return cited


def _usage(messages: list[dict], reply: str) -> dict:
    """Counted in characters: no language model, so no tokens."""
    prompt = sum(len(m["content"]) for m in messages)
    return {"prompt_tokens": prompt, "completion_tokens": len(reply), "total_tokens": prompt + len(reply)}
