"""The HTTP layer: a Flask application factory, the /api blueprint and one JSON error handler."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from qa.config import Config
from qa.errors import BadRequest, PayloadTooLarge, QAError, UnsupportedMediaType
from qa.service import QAService, check_question

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
    if request.content_length and request.content_length > current_app.config["MAX_CONTENT_LENGTH"]:
        raise PayloadTooLarge(f"the body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes")
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("the body is not valid JSON", code="invalid_json")
    return body


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
        code = _HTTP_CODES.get(error.code, "http_error")
        body = {"error": {"code": code, "message": error.description or error.name}}
        return jsonify(body), error.code
    log.exception("unhandled error")
    return jsonify({"error": {"code": "internal_error", "message": "internal error"}}), 500
