"""Paginators: how a stream's pages follow one another, written once for every connector.

Two shapes cover the platforms: a page token handed back with each page (an
``after`` cursor, a ``nextRecordsUrl``, an offset token), and a numeric offset
advanced by each page's length. Both stop on the platform's own signal (no
token, a short page) and never loop: a token handed back twice fails clearly
instead of reading the same pages forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from leadscore.errors import PlatformError, StreamUnavailableError

T = TypeVar("T")


class PaginationLoopError(PlatformError):
    """The platform handed back a page token it had already given: following it would read the same pages again."""


@dataclass(frozen=True, slots=True)
class TokenPage(Generic[T]):
    """One page and the token of the next (None: this was the last)."""

    records: list[T]
    following: str | None


@dataclass(frozen=True, slots=True)
class OffsetPage(Generic[T]):
    """One page, the offset the next page starts at, and whether this was the last."""

    records: list[T]
    next_offset: int
    last: bool


def token_pages(
    fetch: Callable[[str | None], tuple[list[T], str | None]],
    first: str | None = None,
    *,
    source: str,
    endpoint: str,
) -> Iterator[TokenPage[T]]:
    """Every page of a token-paged stream, starting at ``first`` (None: the start)."""
    seen: set[str] = set() if first is None else {first}
    token = first
    while True:
        records, following = fetch(token)
        yield TokenPage(records, following)
        if following is None:
            return
        if following in seen:
            raise PaginationLoopError(
                f"{endpoint}: the platform returned the page token {following[:80]!r} twice; stopped rather than "
                "read the same pages again (the pages before it are kept)",
                source=source,
                endpoint=endpoint,
            )
        seen.add(following)
        token = following


def offset_pages(
    fetch: Callable[[int], list[T]],
    limit: int,
    start: int = 0,
    *,
    overlap: int = 0,
) -> Iterator[OffsetPage[T]]:
    """Every page of an offset-paged stream: pages of ``limit`` from ``start`` until a short page.

    With ``overlap``, each page starts that many rows before the end of the last one
    (rows deleted between two calls shift later rows back; the overlap reads them
    rather than skip them, and the caller drops the repeats). The offset always
    moves forward, so the walk ends.
    """
    offset = start
    while True:
        records = fetch(offset)
        last = len(records) < limit
        step = len(records) if last else max(1, len(records) - overlap)
        yield OffsetPage(records, offset + step, last)
        if last:
            return
        offset += step


def unless_refused(
    pages: Iterator[T], stream: str, source: str, refused: Callable[[PlatformError], bool], fix: str
) -> Iterator[T]:
    """Pages of an optional stream; an error ``refused`` says is the account refusing the stream itself (a plan
    without the API, a missing scope or object) becomes StreamUnavailableError, which leaves the stream out of the
    cycle; ``fix`` says what would turn it on."""
    try:
        yield from pages
    except PlatformError as exc:
        if not refused(exc):
            raise
        raise StreamUnavailableError(stream, str(exc), fix, source=source, endpoint=exc.endpoint) from None
