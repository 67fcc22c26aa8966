"""The HTTP layer, the top stage: the Flask application factory, shared request helpers and the one JSON error
handler; each area is a blueprint in its own module (api, chat, openai, openapi, admin, widget), keys in auth.

In: HTTP requests. Out: the service's replies as JSON or Server-Sent Events. Nothing outside `qa.web` imports
Flask. A new route goes in the blueprint of its area (and in openapi.py, its bodies in openapi_schemas.py).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from qa.config import Config
from qa.conversation import Chat
from qa.errors import QAError
from qa.service import QAService
from qa.web import admin, api, chat, openai, openapi, widget
from qa.web.auth import Keys
from qa.web.headers import add_security_headers
from qa.web.limits import limit_rates

log = logging.getLogger(__name__)

# Werkzeug's own errors (routing, size limit) mapped to our stable codes.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               400: "bad_request", 429: "rate_limited"}


def create_app(config: Config, service: QAService | None = None) -> Flask:
    """Build the app. The service (model + index) is created here unless a test passes one in."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["qa"] = service = service or QAService(config)
    app.before_request(_start_clock)  # first: the request's time includes the rate limit and the access check
    app.after_request(_server_timing)
    keys = Keys(config)
    limit_rates(app, config, keys)  # before the access check: refused keys count too
    app.before_request(lambda: keys.check(request.method, request.path, request.headers))  # the one access check
    app.extensions["qa.chat"] = Chat(service)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(chat.blueprint)
    app.register_blueprint(openai.blueprint)
    if keys.admin_enabled:
        admin.enable(app, config, service)
    app.register_blueprint(widget.blueprint)
    app.register_blueprint(openapi.blueprint)
    widget.allow_origins(app, config.allowed_origins)
    add_security_headers(app)
    app.register_error_handler(Exception, _error_response)
    return app


def _start_clock() -> None:
    g.started = time.perf_counter()


def _server_timing(response):
    """The whole time the app spent on the request, the reply's serialisation included: `Server-Timing: app;dur=…`
    (milliseconds). A reply's `timings_ms.total` counts from the same start, up to the body it is part of."""
    if "started" in g:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
    return response


def _error_response(error: Exception):
    """Every error leaves as {"error": {"code", "message"}}; unknown ones are logged and never leak details."""
    if isinstance(error, QAError):
        return jsonify(error.to_json()), error.status, error.headers
    if isinstance(error, HTTPException):
        status = error.code or 500
        body = {"error": {"code": _HTTP_CODES.get(status, "http_error"), "message": error.description or error.name}}
        return jsonify(body), status, _headers_of(error)
    log.exception("unhandled error")
    return jsonify({"error": {"code": "internal_error", "message": "internal error"}}), 500


def _headers_of(error: HTTPException) -> list[tuple[str, str]]:
    """Werkzeug's headers for an error (e.g. Allow on a 405) but its HTML content type."""
    return [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
