"""One exception hierarchy; each class carries its HTTP status and a stable error code."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error the service reports to a client or a terminal."""

    status = 500
    code = "internal_error"

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


class UnsupportedMediaType(QAError):
    status = 415
    code = "unsupported_media_type"


class NotReady(QAError):
    status = 503
    code = "not_ready"


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
