"""A statement's values that a Polars frame cannot hold as they are: `rosterflow query` printed
them wrong, or ended in a panic of Polars and a traceback, where it says which value it cannot
show and how to see it."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from rosterflow.warehouse.readonly import QueryRefused, read_statement
from rosterflow.warehouse.schema import connect


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    connect(path).close()
    return path


@pytest.mark.parametrize("nested_as_text", [True, False])
@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        # history's open versions until the end of time, as analysts write it
        ("select coalesce(null, 'infinity'::timestamp) as until", "infinity"),
        ("select '-infinity'::date as until", "-infinity"),
        ("select 'infinity'::timestamptz as until", "infinity"),
        ("select '10000-01-01'::timestamp as until", "10000-01-01 00:00:00"),
        ("select '0044-03-15 (BC)'::date as until", "0044-03-15 (BC)"),
        # Polars read these as 2262-04-11, 1969-12-31 and NULL
        ("select 'infinity'::timestamp_ns as until", "infinity"),
        ("select 'infinity'::timestamp_s as until", "infinity"),
        ("select '24:00:00'::time as until", "24:00:00"),
        # a DECIMAL(38) in Polars: the last digit was lost, or the value read as -1
        (
            "select 170141183460469231731687303715884105727::hugeint as until",
            "170141183460469231731687303715884105727",
        ),
        (
            "select 340282366920938463463374607431768211455::uhugeint as until",
            "340282366920938463463374607431768211455",
        ),
    ],
)
def test_a_value_a_frame_cannot_hold_is_refused_naming_its_column_and_value(
    warehouse: Path, sql: str, shown: str, nested_as_text: bool
):
    with pytest.raises(QueryRefused) as refused:
        read_statement(warehouse, sql, nested_as_text)

    message = str(refused.value)
    assert f'column "until" holds {shown}, ' in message
    assert 'cast("until" as varchar)' in message
    assert "\n" not in message


def test_the_values_a_frame_holds_pass_through_with_their_types(warehouse: Path):
    """The guard changes no value it lets through, NULL included, and no column's type."""
    rows = read_statement(
        warehouse,
        "select date '0001-01-01' as first_day, date '9999-12-31' as last_day, "
        "timestamp '9999-12-31 23:59:59.999999' as last_moment, "
        "timestamptz '2026-09-01 06:00:00+00' as synced_at, null::timestamp as valid_to, "
        "time '23:59:59.999999' as last_time, "
        "99999999999999999999999999999999999999::hugeint as widest, "
        "-99999999999999999999999999999999999999::hugeint as lowest, "
        "99999999999999999999999999999999999999::uhugeint as widest_unsigned",
    )

    assert rows.row(0) == (
        date(1, 1, 1),
        date(9999, 12, 31),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime.fromisoformat("2026-09-01T06:00:00+00:00"),
        None,
        time(23, 59, 59, 999999),
        Decimal("99999999999999999999999999999999999999"),
        Decimal("-99999999999999999999999999999999999999"),
        Decimal("99999999999999999999999999999999999999"),
    )


@pytest.mark.parametrize(
    ("nested_as_text", "expected"),
    [
        # a table's: as DuckDB writes it, as every nested value
        (True, ("[infinity, '2026-09-01 06:00:00']", "{'until': '24:00:00'}")),
        # a CSV's: as JSON, as a nested value holding what Polars cannot
        (False, ('["infinity","2026-09-01 06:00:00"]', '{"until":"24:00:00"}')),
    ],
)
def test_a_list_or_struct_of_values_a_frame_cannot_hold_is_shown_whole(
    warehouse: Path, nested_as_text: bool, expected: tuple[str, str]
):
    """Kept nested for a CSV, the list of an infinite timestamp ended in a panic of Polars."""
    rows = read_statement(
        warehouse,
        "select ['infinity'::timestamp, timestamp '2026-09-01 06:00:00'] as versions, "
        "{'until': '24:00:00'::time} as closing",
        nested_as_text,
    )

    assert rows.row(0) == expected
