"""Request helpers shared by the blueprints: the app's service and chat, the checked JSON body, event streams."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator

from flask import Response, current_app, request

from qa.conversation import Chat
from qa.errors import BadRequest, PayloadTooLarge, QAError, UnsupportedMediaType
from qa.service import QAService

log = logging.getLogger(__name__)


def service() -> QAService:
    """The service of the app handling this request."""
    return current_app.extensions["qa"]


def json_body() -> object:
    """The request's JSON body. Werkzeug stops reading past MAX_CONTENT_LENGTH (413), chunked bodies too."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    try:
        return json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None


def chat() -> Chat:
    """The app's conversation handler (over the same service)."""
    return current_app.extensions["qa.chat"]


def event_stream(lines: Iterable[str]) -> Response:
    """A Server-Sent Events response; proxies are asked not to buffer it."""
    return Response(lines, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def sse(data: dict, event: str | None = None) -> str:
    """One Server-Sent Event: its name (when it has one) and its JSON data on one line."""
    named = f"event: {event}\n" if event else ""
    return f"{named}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def stream_errors(events: Iterator[str], error_event: Callable[[QAError], str]) -> Iterator[str]:
    """The events, then one error event if producing them fails (the status line has left by then)."""
    try:
        yield from events
    except QAError as error:
        yield error_event(error)
    except Exception:  # noqa: BLE001 - logged; the client gets a clean error event, never a cut stream
        log.exception("error while streaming")
        yield error_event(QAError("internal error"))
