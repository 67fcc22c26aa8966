"""Validation of request bodies: the question and its options, refused with stable error codes."""

from __future__ import annotations

from qa.errors import BadRequest


def check_question(body: object) -> tuple[str, int]:
    """Validate an /api/ask body: question 1..1000 characters, top_k 1..20 (default 5)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body")
    question = body.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("'question' must be a non-empty string", code="invalid_question")
    if not _is_unicode(question):
        raise BadRequest("'question' must be valid Unicode text (it holds a lone surrogate)", code="invalid_question")
    if len(question) > 1000:
        raise BadRequest("'question' must be at most 1000 characters", code="question_too_long")
    top_k = body.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 20:
        raise BadRequest("'top_k' must be an integer from 1 to 20", code="invalid_top_k")
    unknown = set(body) - {"question", "top_k"}
    if unknown:
        names = ", ".join(quoted(name, 40) for name in sorted(unknown)[:5])
        raise BadRequest(f"unknown field(s): {names}; the fields are 'question' and 'top_k'", code="unknown_field")
    return question.strip(), top_k


def _is_unicode(text: str) -> bool:
    """False for strings with lone surrogates: JSON allows them ("\\ud800"), nothing downstream does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def quoted(text: str, limit: int = 80) -> str:
    """An id as quoted in an error message: repr, cut to a readable length."""
    return repr(text[:limit]) + ("…" if len(text) > limit else "")
