"""Metadata filters (date range, page, reporter, article): which articles a question may be answered from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from qa.ingest.documents import Article

FIELDS = ("date_from", "date_to", "page", "reporter", "article")
NO_MATCH = "没有符合筛选条件的报道。"  # "No article passes the filters."
_DAY = re.compile(r"^(?:(?P<year>\d{4})-|--)?(?P<month>\d{1,2})-(?P<day>\d{1,2})$")


@dataclass(frozen=True)
class Day:
    """A calendar day, the year unknown when the page does not print one."""

    month: int
    day: int
    year: int | None = None

    @classmethod
    def parse(cls, text: str) -> "Day | None":
        """"2021-12-23", "12-23" or "--12-23" (an article's `day`); None for anything else."""
        match = _DAY.match(text)
        if not match:
            return None
        year = int(match["year"]) if match["year"] else None
        month, day = int(match["month"]), int(match["day"])
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return cls(month, day, year)

    @property
    def month_day(self) -> int:
        return self.month * 100 + self.day


@dataclass(frozen=True)
class Filters:
    """What a request narrows the archive to; every field None means the whole archive.

    Dates are inclusive. Where the article or the filter has no year (the seeds print none), month and day
    are compared; an article without a printed date never passes a date filter.
    """

    date_from: Day | None = None
    date_to: Day | None = None
    page: str | None = None  # a page file name ("000_….txt"; the stem alone is taken too)
    reporter: str | None = None  # among the article's reporters, correspondents or photographers
    article: str | None = None  # an article id

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not None for name in FIELDS)

    @property
    def wraps(self) -> bool:
        """A range without years that runs across New Year (12-20 to 01-05): the days from the first to the end
        of December and from January to the last."""
        low, high = self.date_from, self.date_to
        return bool(low and high and not low.year and not high.year and low.month_day > high.month_day)

    def matches(self, article: Article) -> bool:
        if self.article is not None and article.id != self.article:
            return False
        if self.page is not None and article.page != self.page:
            return False
        if self.reporter is not None and self.reporter not in people(article):
            return False
        if self.date_from is None and self.date_to is None:
            return True
        day = Day.parse(article.day) if article.day else None
        return day is not None and _within(day, self.date_from, self.date_to, self.wraps)

    def to_json(self) -> dict:
        """The filters as a request gives them (only those set)."""
        values = {name: getattr(self, name) for name in FIELDS}
        return {k: day_text(v) if isinstance(v, Day) else v for k, v in values.items() if v is not None}


def people(article: Article) -> tuple[str, ...]:
    """Everyone the article's bylines name."""
    return article.reporters + article.correspondents + article.photographers


def _within(day: Day, low: Day | None, high: Day | None, wraps: bool = False) -> bool:
    after, before = low is None or compare(day, low) >= 0, high is None or compare(day, high) <= 0
    return (after or before) if wraps else (after and before)


def compare(a: Day, b: Day) -> int:
    """-1, 0 or 1; on month and day alone when either year is unknown."""
    left = (a.year, a.month_day) if a.year and b.year else (a.month_day,)
    right = (b.year, b.month_day) if a.year and b.year else (b.month_day,)
    return (left > right) - (left < right)


def day_text(day: Day) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}" if day.year else f"{day.month:02d}-{day.day:02d}"


def day_key(article: Article) -> int:
    """An article's printed day as one sortable number, year × 10000 + MMDD (0 without a date; a year-less
    date sorts by month and day below every date with a year)."""
    day = Day.parse(article.day) if article.day else None
    return (day.year or 0) * 10000 + day.month_day if day else 0


LIST_LIMIT, MAX_LIST_LIMIT = 20, 100  # items of a list answer or of /api/articles a request gets at most


@dataclass(frozen=True)
class Paging:
    """Which part of a long list a request reads: `limit` items from `offset` (list answers, /api/articles)."""

    limit: int = LIST_LIMIT
    offset: int = 0

    def of(self, items: list) -> list:
        return items[self.offset : self.offset + self.limit]

    def to_json(self, total: int) -> dict:
        """The page's place in the whole list: the total, this page's bounds and the next page's offset (null at
        the end)."""
        following = self.offset + self.limit
        return {"total": total, "offset": self.offset, "limit": self.limit,
                "next_offset": following if following < total else None}


class Selection(NamedTuple):
    """The chunks a request's filters allow, for a store: the filters themselves (a store that filters by its
    own fields reads them) and, where the records are positions, the boolean mask over them (None elsewhere)."""

    filters: Filters
    mask: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        """Known to pass no chunk (a mask of all False)."""
        return self.mask is not None and not self.mask.any()

    @property
    def positions(self) -> np.ndarray:
        """The allowed chunk positions, ascending."""
        return np.flatnonzero(self.mask)


class ArticleTable:
    """The articles' filter fields as arrays, made once per index: a filter becomes a chunk mask in a few
    vectorised steps, not a loop over every article per request."""

    def __init__(self, articles: list[Article], chunk_articles: Iterable[str]):
        """`chunk_articles`: the article id of each chunk, in chunk order."""
        self.ids = [a.id for a in articles]
        self.position = position = {a: i for i, a in enumerate(self.ids)}
        self.pages: dict[str, list[int]] = {}
        for i, a in enumerate(articles):
            self.pages.setdefault(a.page, []).append(i)
        self.people: dict[str, list[int]] = {}
        for i, a in enumerate(articles):
            for name in dict.fromkeys(people(a)):
                self.people.setdefault(name, []).append(i)
        days = [Day.parse(a.day) if a.day else None for a in articles]
        self.month_day = np.array([d.month_day if d else 0 for d in days], dtype=np.int64)
        self.year = np.array([(d.year or 0) if d else 0 for d in days], dtype=np.int64)
        self.chunk_article = np.array([position[a] for a in chunk_articles], dtype=np.int64)

    def select(self, filters: Filters) -> Selection:
        return Selection(filters, self.mask(filters))

    def mask(self, filters: Filters) -> np.ndarray:
        """Which chunks pass (a boolean per chunk position)."""
        return self.passing(filters)[self.chunk_article]

    def newest_first(self, positions: np.ndarray) -> np.ndarray:
        """Article positions by printed day, newest first (as day_key orders them), page order among equals."""
        return positions[np.argsort(-(self.year * 10000 + self.month_day)[positions], kind="stable")]

    def passing(self, filters: Filters) -> np.ndarray:
        """Which articles pass (a boolean per article, in `ids` order)."""
        keep = np.ones(len(self.ids), dtype=bool)
        for selected in (self._one(filters.article), self._listed(self.pages, filters.page),
                         self._listed(self.people, filters.reporter)):
            if selected is not None:
                keep &= selected
        if filters.date_from or filters.date_to:
            keep &= self.month_day > 0
            sides = [self._compare(bound) * sign >= 0 for bound, sign in ((filters.date_from, 1), (filters.date_to, -1))
                     if bound is not None]
            keep &= (sides[0] | sides[1]) if filters.wraps else np.logical_and.reduce(sides)
        return keep

    def _one(self, article: str | None) -> np.ndarray | None:
        if article is None:
            return None
        keep = np.zeros(len(self.ids), dtype=bool)
        if article in self.position:
            keep[self.position[article]] = True
        return keep

    def _listed(self, table: dict[str, list[int]], value: str | None) -> np.ndarray | None:
        if value is None:
            return None
        keep = np.zeros(len(self.ids), dtype=bool)
        keep[table.get(value, [])] = True
        return keep

    def _compare(self, bound: Day) -> np.ndarray:
        """Each article's day compared with a bound (-1, 0, 1), as Filters.matches does."""
        md = np.sign(self.month_day - bound.month_day)
        if not bound.year:
            return md
        full = np.sign((self.year * 10000 + self.month_day) - (bound.year * 10000 + bound.month_day))
        return np.where(self.year > 0, full, md)
