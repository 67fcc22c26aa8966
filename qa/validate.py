"""Validation of request bodies: the question and its options, refused with stable error codes."""

from __future__ import annotations

import unicodedata

from qa.errors import BadRequest, quoted
from qa.storage.filters import FIELDS as FILTERS
from qa.storage.filters import LIST_LIMIT, MAX_LIST_LIMIT, Day, Filters, Paging, compare

MAX_QUESTION_CHARS = 1000
MAX_FILTER_CHARS = 200
MAX_OFFSET = 10_000_000
_FILTER_NAMES = ", ".join(f"'{f}'" for f in FILTERS)


def check_question(body: object) -> tuple[str, int, Filters, Paging]:
    """Validate an /api/ask body: question 1..1000 characters, top_k 1..20 (default 5), filters (optional), and
    the page of a list answer: limit 1..100 (default 20), offset (default 0)."""
    _check_object(body)
    _check_fields(body, ("question", "top_k", "filters", "limit", "offset"))
    return (_question(body.get("question"), "'question'"), _top_k(body), parse_filters(body.get("filters")),
            parse_paging(body))


def check_chat(body: object, max_messages: int, max_chars: int,
               strict: bool = True) -> tuple[list[dict], int, bool, Filters, Paging]:
    """Validate a chat body: messages (user/assistant turns, the last one the user's question), top_k, stream,
    filters, and a list answer's limit and offset.

    `strict` refuses unknown fields (/api/chat); the OpenAI-compatible route passes False, since its
    clients send options (temperature, ...) that an extractive answer has no use for.
    """
    _check_object(body)
    if strict:
        _check_fields(body, ("messages", "top_k", "stream", "filters", "limit", "offset"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {role, content}", code="invalid_messages")
    if len(messages) > max_messages:
        raise BadRequest(f"at most {max_messages} messages are accepted", code="too_many_messages")
    checked = []
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages[{n}] must be an object with role 'user' or 'assistant'", code="invalid_messages")
        content = message.get("content")
        if not isinstance(content, str) or not is_unicode(content):
            raise BadRequest(f"messages[{n}].content must be a string", code="invalid_messages")
        if len(content) > max_chars:
            raise BadRequest(f"messages[{n}].content must be at most {max_chars} characters", code="message_too_long")
        checked.append({"role": message["role"], "content": content})
    if checked[-1]["role"] != "user":
        raise BadRequest("the last message must be the user's question", code="invalid_messages")
    checked[-1]["content"] = _question(checked[-1]["content"], "the last message")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false", code="invalid_stream")
    return checked, _top_k(body), stream, parse_filters(body.get("filters")), parse_paging(body)


def parse_filters(value: object) -> Filters:
    """A request's `filters` object (or query parameters) checked: 400 `invalid_filter` when malformed."""
    if value is None:
        return Filters()
    if not isinstance(value, dict):
        raise BadRequest(f"'filters' must be an object with some of the fields {_FILTER_NAMES}", code="invalid_filter")
    unknown = sorted(set(value) - set(FILTERS))
    if unknown:
        raise BadRequest(f"unknown filter(s) {', '.join(quoted(str(u), 40) for u in unknown[:5])}; the filters are "
                         f"{_FILTER_NAMES}", code="invalid_filter")
    checked: dict[str, object] = {}
    for name in FILTERS:
        text = value.get(name)
        if text is None:
            continue
        if (not isinstance(text, str) or not text.strip() or len(text) > MAX_FILTER_CHARS or not is_unicode(text)
                or any(unicodedata.category(ch) == "Cc" for ch in text)):
            raise BadRequest(f"filter '{name}' must be a non-empty string of at most {MAX_FILTER_CHARS} characters "
                             "without control characters", code="invalid_filter")
        text = text.strip()
        if name.startswith("date_"):
            day = Day.parse(text)
            if day is None:
                raise BadRequest(f"filter '{name}' must be a date as YYYY-MM-DD or MM-DD, not {text[:40]!r}",
                                 code="invalid_filter")
            checked[name] = day
        else:
            checked[name] = text
    if "page" in checked and not str(checked["page"]).endswith(".txt"):
        checked["page"] = f"{checked['page']}.txt"  # the page's stem, as citation ids show it
        if len(checked["page"]) > MAX_FILTER_CHARS:
            raise BadRequest(f"filter 'page' must name a page file of at most {MAX_FILTER_CHARS} characters "
                             "(.txt included)", code="invalid_filter")
    filters = Filters(**checked)
    if filters.date_from and filters.date_to and not filters.wraps and compare(filters.date_from, filters.date_to) > 0:
        raise BadRequest("filter 'date_from' is after 'date_to' (only a range without years may run across New "
                         "Year)", code="invalid_filter")
    return filters


def parse_paging(value: dict) -> Paging:
    """`limit` (1..100, default 20) and `offset` (default 0) of a body, or of query parameters (as digits)."""
    limit = _count(value.get("limit", LIST_LIMIT), "limit", 1, MAX_LIST_LIMIT)
    return Paging(limit, _count(value.get("offset", 0), "offset", 0, MAX_OFFSET))


def _count(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        value = int(value)  # a query parameter
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be an integer from {low} to {high}", code=f"invalid_{name}")
    return value


def _check_object(body: object) -> None:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body")


def _check_fields(body: dict, fields: tuple[str, ...]) -> None:
    unknown = set(body) - set(fields)
    if unknown:
        names = ", ".join(quoted(name, 40) for name in sorted(unknown)[:5])
        known = ", ".join(f"'{f}'" for f in fields)
        raise BadRequest(f"unknown field(s): {names}; the fields are {known}", code="unknown_field")


def _question(question: object, what: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise BadRequest(f"{what} must be a non-empty string", code="invalid_question")
    if not is_unicode(question):
        raise BadRequest(f"{what} must be valid Unicode text (it holds a lone surrogate)", code="invalid_question")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadRequest(f"{what} must be at most {MAX_QUESTION_CHARS} characters", code="question_too_long")
    return question.strip()


def _top_k(body: dict) -> int:
    top_k = body.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 20:
        raise BadRequest("'top_k' must be an integer from 1 to 20", code="invalid_top_k")
    return top_k


def is_unicode(text: str) -> bool:
    """False for strings with lone surrogates: JSON allows them ("\\ud800"), nothing downstream does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
