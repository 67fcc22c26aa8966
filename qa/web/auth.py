"""Access keys: which paths need the read key or the admin key, and the constant-time check of a request's key."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from qa.config import Config
from qa.errors import Forbidden, Unauthorized

READ, ADMIN = "read", "admin"
ADMIN_PREFIX = "/api/admin/"
# The API: what keys and rate limits apply to, but for the open paths (health checks of a load balancer).
API_PREFIXES = ("/api/", "/v1/")
OPEN_PATHS = frozenset({"/api/health"})


class Keys:
    """The optional read and admin keys of a config. Keys never appear in messages or logs."""

    def __init__(self, config: Config):
        self._keys = {READ: config.read_key.encode(), ADMIN: config.admin_key.encode()}

    @property
    def admin_enabled(self) -> bool:
        return bool(self._keys[ADMIN])

    def required(self, path: str) -> str | None:
        """The key a path needs: the admin key under /api/admin/ (when admin routes are on at all), the read
        key under /api/ and /v1/ when one is set; None for open paths (/api/health, /, /widget.js...)."""
        if path.startswith(ADMIN_PREFIX):
            return ADMIN if self.admin_enabled else None  # off: the routes do not exist, a plain 404
        if self._keys[READ] and is_api(path):
            return READ
        return None

    def check(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        """Raise Unauthorized (no key sent) or Forbidden (no key sent opens this path); return if allowed.

        The key comes as `Authorization: Bearer <key>` or `X-API-Key: <key>`. CORS preflights (OPTIONS)
        carry no credentials by design and are let through: they reach no handler.
        """
        needed = self.required(path)
        if needed is None or method == "OPTIONS":
            return
        sent = _sent(headers)
        if not sent:
            raise Unauthorized("this route needs a key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
        opens = (ADMIN,) if needed == ADMIN else (READ, ADMIN)  # the admin key opens the read routes too
        # Every sent key against every key that opens the path, all compared: the time taken says nothing.
        matches = [self._matches(key, role) for key in sent for role in opens]
        if not any(matches):
            raise Forbidden("the key sent does not open this route")

    def holder(self, headers: Mapping[str, str]) -> str | None:
        """The sent key that is one of the keys (read or admin), else None: who a request counts against."""
        return next((key for key in _sent(headers) if any([self._matches(key, READ), self._matches(key, ADMIN)])),
                    None)

    def _matches(self, sent: str, role: str) -> bool:
        expected = self._keys[role]
        # Keys are ASCII (Config checks): any other sent text simply differs; surrogatepass lets every str encode.
        return bool(expected) and hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected)


def is_api(path: str) -> bool:
    """A path under the API that keys and rate limits apply to."""
    return path.startswith(API_PREFIXES) and path not in OPEN_PATHS


def _sent(headers: Mapping[str, str]) -> list[str]:
    return [key for key in (_bearer(headers.get("Authorization")), headers.get("X-API-Key")) if key]


def _bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
