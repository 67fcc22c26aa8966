"""The /api/chat blueprint: the last question of a conversation answered, whole or as Server-Sent Events."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from qa.validate import check_chat
from qa.web.helpers import chat, event_stream, json_body, service, sse, stream_errors

blueprint = Blueprint("chat", __name__, url_prefix="/api")


@blueprint.post("/chat")
def converse():
    config = service().config
    messages, top_k, stream, filters, paging = check_chat(json_body(), config.chat_max_messages, config.chat_max_chars)
    if not stream:
        return jsonify(chat().reply(messages, top_k, filters, paging, g.started))
    events = (sse(data, name) for name, data in chat().events(messages, top_k, filters, paging, g.started))
    return event_stream(stream_errors(events, lambda error: sse(error.to_json(), "error")))
