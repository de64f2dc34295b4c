"""How a value a platform shows is compared with what leadscore wrote there."""

from __future__ import annotations

import pytest

from leadscore.records import shows_written


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("42", 42.0),
        ("2026-12-07T23:10:00.000Z", "2026-12-07T23:10:00.000+0000"),
        ("2026-12-07T23:10:00.000Z", "2026-12-08T00:10:00.000+01:00"),
        ("2026-12-07T23:10:00.000Z", "2026-12-07"),
        (None, ""),
    ],
)
def test_a_platform_s_own_form_of_what_was_written_counts_as_written(written: object, shown: object) -> None:
    assert shows_written(written, shown)


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("42", "41"),
        ("2026-12-07T23:10:00.000Z", "2026-12-07T23:11:00.000+0000"),
        ("2026-12-07T23:10:00.000Z", "2026-12-08"),
        ("2026-12-07T23:10:00.000Z", None),
        (None, "2026-12-07"),
        ("MQL", "2026-12-07"),
        ("2026-12-07", "2026-12-07T23:10:00.000Z"),
    ],
)
def test_a_hand_edit_or_a_cleared_value_does_not(written: object, shown: object) -> None:
    assert not shows_written(written, shown)
