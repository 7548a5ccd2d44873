"""The active synced accounts that sign in with the logins a plan has users sign in with
(`warehouse.state.synced_logins`), read from a real warehouse file: none read when nobody
signs in anew."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import SYNCED_LOGINS_SCHEMA, synced_logins
from tests.syncing import Warehouse


def accounts(warehouse: Warehouse, *rows: tuple) -> None:
    """lms.users rows: (user_id, tenant, external_id, login, status)."""
    for user_id, tenant, external_id, login, status in rows:
        warehouse.execute(
            "insert into lms.users (user_id, tenant, external_id, role, login, status, origin) "
            "values (?, ?, ?, 'student', ?, ?, 'sync')",
            [user_id, tenant, external_id, login, status],
        )


def found(warehouse: Warehouse, logins: list[str | None]) -> list[int]:
    with connect(warehouse.path, read_only=True) as con:
        return synced_logins(con, "district", pl.Series(logins, dtype=pl.String))[
            "user_id"
        ].to_list()


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    return warehouse


def test_only_the_active_synced_accounts_of_the_tenant_with_one_of_the_logins(warehouse):
    accounts(
        warehouse,
        (1, "district", "or--u-1", "Sam.Stone", "active"),  # another letter case
        (2, "district", "or--u-2", "\tsam.stone ", "active"),  # a tab and a space around it
        (3, "district", None, "sam.stone", "active"),  # made by hand: hand_made_logins's
        (4, "district", "hand-4", "sam.stone", "active"),  # made by hand too
        (5, "district", "or--u-5", "sam.stone", "inactive"),  # signs in with nothing
        (6, "other", "or--u-6", "sam.stone", "active"),  # another tenant's
        (7, "district", "or--u-7", "sam.stones", "active"),  # another login
        (8, "district", "or--u-8", "KIM.LEE", "active"),
        (9, "district", "or--u-9", None, "active"),  # no login
    )

    with connect(warehouse.path, read_only=True) as con:
        rows = synced_logins(
            con, "district", pl.Series(["sam.stone", "kim.lee", None, "nobody"], dtype=pl.String)
        )

    assert_frame_equal(
        rows,
        pl.DataFrame(
            [
                (1, "or--u-1", "Sam.Stone"),
                (2, "or--u-2", "\tsam.stone "),
                (8, "or--u-8", "KIM.LEE"),
            ],
            schema=SYNCED_LOGINS_SCHEMA,
            orient="row",
        ),
    )


def test_logins_are_compared_as_same_login_compares_them_beyond_ascii(warehouse):
    """What `same_login` finds equal (`İ` lowered to two characters, a final `Σ`, an accent
    typed apart, spaces of any kind), and nothing else (an ASCII `I` is not `İ`), though
    DuckDB's `lower` finds the ASCII logins alone."""
    accounts(
        warehouse,
        (1, "district", "or--u-1", "İlker", "active"),
        (2, "district", "or--u-2", "ΟΔΟΣ", "active"),
        (3, "district", "or--u-3", "\u3000Jose\u0301\u00a0", "active"),
        (4, "district", "or--u-4", "Ilker", "active"),
        (5, "district", "or--u-5", "jose", "active"),
    )

    assert found(warehouse, ["i̇lker", "οδος", "josé"]) == [1, 2, 3]
    assert found(warehouse, ["ILKER", "JOSE"]) == [4, 5]


def test_no_login_asked_of_reads_nothing(warehouse):
    con = connect(warehouse.path, read_only=True)
    con.close()  # (a read would fail)

    for logins in ([], [None]):
        assert_frame_equal(
            synced_logins(con, "district", pl.Series(logins, dtype=pl.String)),
            pl.DataFrame(schema=SYNCED_LOGINS_SCHEMA),
        )
