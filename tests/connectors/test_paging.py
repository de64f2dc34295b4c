"""The shared paginators: pages in order, the platform's stop signal, and no endless loop."""

from __future__ import annotations

import pytest

from leadscore.connectors.paging import PaginationLoopError, offset_pages, token_pages


def test_token_pages_follow_each_token_until_there_is_none() -> None:
    book = {None: ([1, 2], "b"), "b": ([3, 4], "c"), "c": ([5], None)}
    asked: list[str | None] = []

    def fetch(token: str | None) -> tuple[list[int], str | None]:
        asked.append(token)
        return book[token]

    pages = list(token_pages(fetch, source="s", endpoint="GET /x"))
    assert [p.records for p in pages] == [[1, 2], [3, 4], [5]]
    assert [p.following for p in pages] == ["b", "c", None]
    assert asked == [None, "b", "c"]


def test_token_pages_resume_from_a_saved_token() -> None:
    book = {"b": ([3], "c"), "c": ([4], None)}
    assert [p.records for p in token_pages(lambda t: book[t], "b", source="s", endpoint="GET /x")] == [[3], [4]]


def test_a_token_handed_back_twice_fails_after_the_pages_before_it() -> None:
    """A platform (or a proxy) that answers one cursor forever would otherwise be read forever."""
    book = {None: ([1], "b"), "b": ([2], "c"), "c": ([3], "b")}
    seen: list[list[int]] = []

    def read_all() -> None:
        for page in token_pages(lambda t: book[t], source="hub", endpoint="GET /x"):
            seen.append(page.records)

    with pytest.raises(PaginationLoopError, match=r"GET /x: the platform returned the page token 'b' twice") as raised:
        read_all()
    assert seen == [[1], [2], [3]], "every page before the repeat is handed over (and committed by the caller)"
    assert raised.value.source == "hub"
    assert raised.value.endpoint == "GET /x"


def test_a_token_equal_to_the_one_resumed_from_is_a_loop_too() -> None:
    with pytest.raises(PaginationLoopError):
        list(token_pages(lambda t: ([1], "a"), "a", source="s", endpoint="GET /x"))


def test_offset_pages_stop_at_the_first_short_page() -> None:
    rows = list(range(25))
    asked: list[int] = []

    def fetch(offset: int) -> list[int]:
        asked.append(offset)
        return rows[offset : offset + 10]

    pages = list(offset_pages(fetch, 10))
    assert [p.records for p in pages] == [rows[0:10], rows[10:20], rows[20:25]]
    assert [p.last for p in pages] == [False, False, True]
    assert [p.next_offset for p in pages] == [10, 20, 25]
    assert asked == [0, 10, 20]


def test_offset_pages_end_on_an_empty_page_when_the_length_is_a_multiple_of_the_limit() -> None:
    rows = list(range(20))
    pages = list(offset_pages(lambda offset: rows[offset : offset + 10], 10))
    assert [len(p.records) for p in pages] == [10, 10, 0]
    assert pages[-1].last


def test_offset_pages_overlap_each_page_and_still_move_forward() -> None:
    rows = list(range(12))
    asked: list[int] = []

    def fetch(offset: int) -> list[int]:
        asked.append(offset)
        return rows[offset : offset + 5]

    list(offset_pages(fetch, 5, overlap=2))
    assert asked == [0, 3, 6, 9]
    always_full = list(offset_pages(lambda offset: [offset] * 5 if offset < 4 else [], 5, overlap=9))
    assert [p.next_offset for p in always_full] == [1, 2, 3, 4, 4], "an overlap as long as a page still advances"
