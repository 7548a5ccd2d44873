"""A REST record's dates and times as real servers write them, read as the CSV binding has them."""

from __future__ import annotations

import pytest

from tests.sis.test_mapping import rows


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        # a "never" some SIS write: its UTC is in year 10000, which has no YYYY; it was written
        # `+10000-01-01T04:59:59.000Z`, and the run rejected for a value the server never sent
        ("9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59-05:00"),
        ("0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00+05:00"),
        # the limits themselves, in UTC, are written
        ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("2024-02-29T23:30:00-05:00", "2024-03-01T04:30:00.000Z"),
    ],
)
def test_a_date_last_modified_at_the_years_limits_is_kept_as_sent(sent, written):
    found = rows("orgs", "1.1", {"sourcedId": "o1", "dateLastModified": sent})["orgs"]
    assert found["dateLastModified"].to_list() == [written]


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        # its dateLastModified so written was read, the date was kept whole and refused
        ("2026-08-15t00:00:00z", "2026-08-15"),
        ("2026-08-15t00:00:00.000-07:00", "2026-08-15"),
    ],
)
def test_a_date_sent_as_a_timestamp_with_a_lowercase_t_keeps_its_date(sent, written):
    found = rows("enrollments", "1.1", {"sourcedId": "e1", "beginDate": sent})["enrollments"]
    assert found["beginDate"].to_list() == [written]
