"""Rate limits on /api and /v1 per client (its key when keys are set, else its address): 429 with Retry-After."""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter

from qa.config import Config

_LIMITED = ("/api/", "/v1/")
_UNLIMITED = frozenset({"/api/health"})  # health checks of a load balancer must never be refused


def client_identity(keys_enabled: bool) -> str:
    """Who a request counts against. With keys set, the access check has already refused a wrong key, so
    the key sent names the client (hashed: never the key itself in memory or logs); else its address."""
    key = request.headers.get("X-API-Key") or request.headers.get("Authorization", "")
    if keys_enabled and key:
        return "key:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "address:" + (request.remote_addr or "unknown")


def limit_rates(app: Flask, config: Config) -> Limiter | None:
    """flask-limiter with `QA_RATE_LIMIT` on every /api and /v1 route but health; in-process counters (one
    server process; several would share a storage such as Redis: `storage_uri`)."""
    if not config.rate_limit:
        return None
    keys_enabled = bool(config.read_key or config.admin_key)
    # One count per client over all the routes (application limits), not one per route (default limits).
    return Limiter(lambda: client_identity(keys_enabled), app=app, application_limits=[config.rate_limit],
                   application_limits_exempt_when=_exempt, headers_enabled=True, storage_uri="memory://",
                   strategy="moving-window")


def _exempt() -> bool:
    return not request.path.startswith(_LIMITED) or request.path in _UNLIMITED
