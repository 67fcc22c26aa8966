"""The checks a page passes before it joins the archive: its file name, its size, and text to index in it."""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

from qa.config import Config
from qa.errors import Conflict, EmptyPage, InvalidPageName, PageTooLarge, QAError, UnreadablePage, quoted
from qa.indexing.corpus import Corpus
from qa.ingest.pages import decode_page

# A plain file name: letters, digits, `_`, `-`, `.`; never a path, a hidden file or another suffix.
PAGE_NAME = re.compile(r"[^\W_][\w.-]{0,95}\.txt")
_WORD = re.compile(r"[^\W\d_]")  # a letter or a Han character: something a reader could search for
log = logging.getLogger(__name__)


def check_name(name: str) -> str:
    if not PAGE_NAME.fullmatch(name) or unicodedata.normalize("NFC", name) != name:
        raise refused(name, InvalidPageName(
            f"{quoted(name)} is not a page name: 1 to 100 letters, digits, `_`, `-` or `.`, starting with a letter "
            f"or digit and ending in `.txt` (no folders)"))
    return name


def check_size(name: str, size: int, config: Config) -> None:
    if size > config.max_page_bytes:
        raise refused(name, PageTooLarge(f"the page is {size} bytes; pages are at most {config.max_page_bytes} "
                                          f"bytes (QA_MAX_PAGE_BYTES)"))


def check_page(name: str, data: bytes, config: Config) -> None:
    """Refuse a bad name, a page too large, not text (binary, neither UTF-8 nor GB18030) or without text to index."""
    check_name(name)
    check_size(name, len(data), config)
    try:
        corpus = Corpus.from_pages({name: decode_page(data, name)}, config)
        if not any(_WORD.search(chunk.text) for chunk in corpus.chunks):
            raise EmptyPage(f"{name}: holds no text to index")
    except QAError as error:
        raise refused(name, error) from None


def read_files(paths: list[Path], config: Config) -> dict[str, bytes]:
    """The page files given to `qa add`, by file name, each checked (the size before reading)."""
    pages: dict[str, bytes] = {}
    for path in paths:
        name = check_name(path.name)
        if name in pages:
            raise refused(name, Conflict(f"two files named {name} given", code="duplicate_page"))
        try:
            check_size(name, path.stat().st_size, config)
            pages[name] = path.read_bytes()
        except OSError as error:
            raise refused(name, UnreadablePage(f"{path}: cannot be read ({error.strerror or error})")) from None
        check_page(name, pages[name], config)
    return pages


def refused(name: str, error: QAError) -> QAError:
    log.warning("refused page %s: %s", quoted(name), error.message)
    return error
