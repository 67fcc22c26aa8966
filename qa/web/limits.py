"""Rate limits on /api and /v1 per client (a valid key it sends, else its address): 429 with Retry-After."""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter

from qa.config import Config
from qa.web.auth import Keys, is_api


def client_identity(keys: Keys) -> str:
    """Who a request counts against: the key it sent when that is one of the keys (hashed: never the key
    itself in memory or logs), else its address. A made-up or wrong key counts against the address."""
    key = keys.holder(request.headers)
    if key:
        return "key:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "address:" + (request.remote_addr or "unknown")


def limit_rates(app: Flask, config: Config, keys: Keys) -> Limiter | None:
    """flask-limiter with `QA_RATE_LIMIT` on every /api and /v1 route but health; in-process counters (one
    server process; several would share a storage such as Redis: `storage_uri`). Registered before the
    access check, so that refused keys are counted too (key guessing is limited)."""
    if not config.rate_limit:
        return None
    # One count per client over all the routes (application limits), not one per route (default limits).
    return Limiter(lambda: client_identity(keys), app=app, application_limits=[config.rate_limit],
                   application_limits_exempt_when=lambda: not is_api(request.path), headers_enabled=True,
                   storage_uri="memory://", strategy="moving-window")
