"""What a page embedding the chat needs: the widget script, the demo page, and the cross-origin allowlist."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, send_from_directory
from flask_cors import CORS

STATIC = Path(__file__).resolve().parent.parent / "static"

blueprint = Blueprint("widget", __name__)


@blueprint.get("/")
def demo():
    return send_from_directory(STATIC, "demo.html", mimetype="text/html")


@blueprint.get("/widget.js")
def widget():
    return send_from_directory(STATIC, "widget.js", mimetype="text/javascript")


def allow_origins(app: Flask, origins: tuple[str, ...]) -> None:
    """CORS headers on the API routes for the listed origins only; with none, no page of another origin may call.

    always_send=False: a request without an Origin header (curl, the same origin's GETs) gets no CORS header,
    rather than flask-cors's default of listing every allowed origin to anyone.
    """
    CORS(app, resources={r"/api/*": {}, r"/v1/*": {}}, origins=list(origins), always_send=False)
