"""The HTTP layer: a Flask application factory, the /api blueprint and one JSON error handler."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from qa.config import Config
from qa.errors import BadRequest, PayloadTooLarge, QAError, UnsupportedMediaType
from qa.service import QAService
from qa.validate import check_question

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api")

# Werkzeug's own errors (routing, size limit) mapped to our stable codes.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               400: "bad_request"}


def create_app(config: Config, service: QAService | None = None) -> Flask:
    """Build the app. The service (model + index) is created here unless a test passes one in."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["qa"] = service or QAService(config)
    app.register_blueprint(api)
    app.register_error_handler(Exception, _error_response)
    return app


def _service() -> QAService:
    return current_app.extensions["qa"]


def _json_body() -> object:
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


@api.post("/ask")
def ask():
    question, top_k = check_question(_json_body())
    return jsonify(_service().ask(question, top_k))


@api.get("/citations/<path:citation_id>")
def citation(citation_id: str):
    return jsonify(_service().citation(citation_id))


@api.get("/articles")
def articles():
    return jsonify({"articles": _service().articles()})


@api.get("/articles/<path:article_id>")
def article(article_id: str):
    return jsonify(_service().article(article_id))


@api.get("/health")
def health():
    return jsonify(_service().health())


def _error_response(error: Exception):
    """Every error leaves as {"error": {"code", "message"}}; unknown ones are logged and never leak details."""
    if isinstance(error, QAError):
        return jsonify(error.to_json()), error.status
    if isinstance(error, HTTPException):
        status = error.code or 500
        body = {"error": {"code": _HTTP_CODES.get(status, "http_error"), "message": error.description or error.name}}
        return jsonify(body), status, _headers_of(error)
    log.exception("unhandled error")
    return jsonify({"error": {"code": "internal_error", "message": "internal error"}}), 500


def _headers_of(error: HTTPException) -> list[tuple[str, str]]:
    """Werkzeug's headers for an error (e.g. Allow on a 405) but its HTML content type."""
    return [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
