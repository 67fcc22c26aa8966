"""Security headers on every response: no MIME sniffing, and a Content-Security-Policy per kind of content."""

from __future__ import annotations

from flask import Flask, Response

# The demo page loads only its own script (the widget) and talks only to its own origin; its styles are
# inline (the page's <style> and the widget's shadow-root <style>). Everything else (JSON, the script,
# the event streams) is data: it may load nothing and be framed by no one.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


def add_security_headers(app: Flask) -> None:
    app.after_request(_secure)


def _secure(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    policy = PAGE_POLICY if response.mimetype == "text/html" else DATA_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    return response
