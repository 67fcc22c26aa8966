"""Reading page files: their bytes decoded as UTF-8 (BOM stripped), UTF-16 with a BOM, else GB18030; binary data
and undecodable bytes refused, never decoded with replacement characters."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from qa.errors import UnreadablePage

MAX_BAD_SHARE = 0.02  # share of control/replacement characters above which a file is taken as binary


def read_page(path: str | Path) -> str:
    """The text of a page file: UTF-8 (BOM stripped), UTF-16 with a BOM, else GB18030.

    Raises UnreadablePage for binary data or bytes that no such encoding decodes: a page is
    never decoded with replacement characters.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:  # permission denied, a folder named *.txt, a vanished file
        raise UnreadablePage(f"{path.name}: cannot be read ({error.strerror or error})") from error
    return decode_page(data, path.name)


def decode_page(data: bytes, name: str) -> str:
    """The text of a page's bytes (see read_page); `name` is for the messages."""
    text = _decode(data, name)
    if "\x00" in text:
        raise UnreadablePage(f"{name}: holds NUL bytes: binary data, not a text page")
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and not ch.isspace()))
    if text and bad / len(text) > MAX_BAD_SHARE:
        raise UnreadablePage(f"{name}: {bad} of {len(text)} characters are control or replacement "
                             "characters: binary data, not a text page")
    return text


def _decode(data: bytes, name: str) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadablePage(f"{name}: starts with a {encoding} byte-order mark but byte "
                                     f"{exc.start + len(bom)} is not {encoding}") from None
    if b"\x00" in data:
        raise UnreadablePage(f"{name}: holds NUL bytes: binary data, not a text page")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise UnreadablePage(f"{name}: neither UTF-8 nor GB18030 "
                             f"(undecodable byte at offset {exc.start})") from None
