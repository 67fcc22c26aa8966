"""Request helpers shared by the blueprints: the app's service and the checked JSON body."""

from __future__ import annotations

import json

from flask import current_app, request

from qa.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from qa.service import QAService


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
