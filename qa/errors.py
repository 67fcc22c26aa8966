"""One exception hierarchy; each class carries its HTTP status and a stable error code."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error the service reports to a client or a terminal."""

    status = 500
    code = "internal_error"
    headers: dict[str, str] = {}  # sent with the reply (e.g. WWW-Authenticate on a 401)

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(QAError):
    status = 400
    code = "bad_request"


class NotFound(QAError):
    status = 404
    code = "not_found"


class PayloadTooLarge(QAError):
    status = 413
    code = "payload_too_large"


class Unauthorized(QAError):
    """A route that needs a key was called without one."""

    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="qa"'}


class Forbidden(QAError):
    """A key was sent but it does not open this route."""

    status = 403
    code = "forbidden"


class Conflict(QAError):
    status = 409
    code = "conflict"


class UnsupportedMediaType(QAError):
    status = 415
    code = "unsupported_media_type"


class NotReady(QAError):
    status = 503
    code = "not_ready"


class StoreUnavailable(QAError):
    """The store (a Milvus server) did not answer or refused; retry later."""

    status = 503
    code = "store_unavailable"

    @classmethod
    def gone(cls, name: str) -> "StoreUnavailable":
        """A record this request found a moment ago was removed by an update since (a shared store)."""
        return cls(f"the archive changed while this request read it ({quoted(name)} is gone): try again")


class IndexMismatch(QAError):
    """The index on disk was written by another format version or for other settings."""

    status = 503
    code = "index_mismatch"


class UnreadablePage(QAError):
    """A page file that is neither UTF-8 nor GB18030, or holds binary data."""

    status = 400
    code = "unreadable_page"


class ModelError(QAError):
    """The embedding model could not be fetched, verified or converted."""

    status = 503
    code = "model_unavailable"


class InvalidPageName(BadRequest):
    """A page name that is not a plain `*.txt` file name (a path, a hidden file, another suffix)."""

    code = "invalid_page_name"


class EmptyPage(UnreadablePage):
    """A page with no text to index."""

    code = "empty_page"


class PageTooLarge(PayloadTooLarge):
    code = "page_too_large"


def quoted(text: str, limit: int = 80) -> str:
    """An id as quoted in an error message: repr, cut to a readable length."""
    return repr(text[:limit]) + ("…" if len(text) > limit else "")
