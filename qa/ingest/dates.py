"""Dates as pages print them (12月21日, 2021年12月21日, 2021-12-21, 2021.12.21, 2021/12/21), with their raw
offsets, and an article's day: its own date, the year taken from the page's date where it prints none."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from qa.ingest.normalize import normalise, normalise_with_map

DAYS_AHEAD = 31  # a date printed without a year lies at most this long after its page's date (an announced event)
# 12月21日, 2021年12月21日, 2021-12-21 (or . or /), 二〇二一年十二月二十一日; OCR may leave spaces inside.
_CN_DIGITS = "〇一二三四五六七八九"
PRINTED_DATE = re.compile(r"(?<!\d)(?:(?P<year>\d{4})\s*年\s*)?(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*日"
                           r"|(?<!\d)(?P<nyear>\d{4})\s*(?P<sep>[-./])\s*(?P<nmonth>\d{1,2})\s*(?P=sep)\s*"
                           r"(?P<nday>\d{1,2})(?!\d)"
                           r"|(?<![一二三四五六七八九十])(?:(?P<cyear>[〇零一二三四五六七八九]{4})\s*年\s*)?"
                           r"(?P<cmonth>十[一二]?|[一二三四五六七八九])\s*月\s*"
                           r"(?P<cday>三十一?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?|[一二三四五六七八九])\s*[日号]")


@dataclass(frozen=True)
class Date:
    printed: str  # normalised, as printed: "12月21日", "2021年12月23日", "2021-12-23"
    span: tuple[int, int] | None
    year: int | None
    month: int
    day: int



def numbers(match: re.Match) -> tuple[int | None, int, int]:
    """(year or None, month, day) of a PRINTED_DATE match, in whichever form it is printed."""
    if match["cmonth"]:
        year = match["cyear"]
        return (int("".join(str(_CN_DIGITS.index(c)) if c in _CN_DIGITS else "0" for c in year)) if year else None,
                _chinese(match["cmonth"]), _chinese(match["cday"]))
    year = match["year"] or match["nyear"]
    return int(year) if year else None, int(match["month"] or match["nmonth"]), int(match["day"] or match["nday"])


def _chinese(number: str) -> int:
    """一 .. 三十一 as an int (the numbers a month or a day is written with)."""
    tens, _, units = number.rpartition("十")
    if "十" not in number:
        return _CN_DIGITS.index(number)
    return (_CN_DIGITS.index(tens) if tens else 1) * 10 + (_CN_DIGITS.index(units) if units else 0)


def first_date(raw: str, start: int, end: int) -> Date | None:
    """The first real date printed in the first paragraph of raw[start:end], with its raw span."""
    mapped = normalise_with_map(raw[start:end])
    for match in PRINTED_DATE.finditer(mapped.text.split("\n", 1)[0]):
        parts = numbers(match)
        if _valid(*parts):
            a, b = mapped.to_raw(*match.span())
            span = (start + a, start + b) if normalise(raw[start + a:start + b]) == match.group() else None
            return Date(match.group(), span, *parts)
    return None


def dating(found: Date | None, page_date: Date | None) -> tuple[Date | None, str | None, list[str]]:
    """(the date an article gives or takes from the page, its day as 2021-12-23 or --12-23, doubts)."""
    doubts = []
    if found is None and page_date is not None:
        found = page_date
        doubts.append(f"no date in the lead: dated by the page header's {page_date.printed}")
    if found is None:
        return None, None, doubts
    year = found.year
    if year is None and page_date is not None and page_date.year is not None:
        year = _year_near(page_date, found.month, found.day)
        if year is not None:
            doubts.append(f"year of {found.printed} taken from the page header's {page_date.printed}")
    day = f"{year:04d}-{found.month:02d}-{found.day:02d}" if year else f"--{found.month:02d}-{found.day:02d}"
    return found, day, doubts


def _year_near(page_date: Date, month: int, day: int) -> int | None:
    """The year that puts month/day in the 366 days ending DAYS_AHEAD after the page's date.

    News reports what happened, or what is about to: 12月30日 on a January page is last year's.
    """
    issued = datetime.date(page_date.year, page_date.month, page_date.day)
    for year in (issued.year, issued.year - 1, issued.year + 1):
        if not _valid(year, month, day):
            continue
        ahead = (datetime.date(year, month, day) - issued).days
        if DAYS_AHEAD - 366 < ahead <= DAYS_AHEAD:
            return year
    return None


def _valid(year: int | None, month: int, day: int) -> bool:
    try:
        datetime.date(year or 2000, month, day)  # 2000 is a leap year: 2月29日 stands without a year
    except ValueError:
        return False
    return year is None or 1900 <= year <= 2100
