"""The accounts made by hand that sign in with the logins a plan gives the users it creates
(`warehouse.state.hand_made_logins`): none read when the plan creates no user."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import HAND_MADE_LOGINS_SCHEMA, hand_made_logins
from tests.syncing import Warehouse


def accounts(warehouse: Warehouse, *rows: tuple) -> None:
    """lms.users rows: (user_id, tenant, external_id, login, status)."""
    for user_id, tenant, external_id, login, status in rows:
        warehouse.execute(
            "insert into lms.users (user_id, tenant, external_id, role, login, status, origin) "
            "values (?, ?, ?, 'student', ?, ?, 'manual')",
            [user_id, tenant, external_id, login, status],
        )


def found(warehouse: Warehouse, logins: list[str | None]) -> pl.DataFrame:
    with connect(warehouse.path, read_only=True) as con:
        return hand_made_logins(con, "district", pl.Series(logins, dtype=pl.String))


def test_only_the_active_accounts_made_by_hand_of_the_tenant_with_one_of_the_logins(tmp_path):
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    accounts(
        warehouse,
        (9001, "district", None, "Sam.Stone", "active"),  # another letter case
        (9002, "district", "hand-2", " sam.stone\t", "active"),  # surrounding spaces
        (9003, "district", "or--u-sam", "sam.stone", "active"),  # synced: not made by hand
        (9004, "district", None, "sam.stone", "inactive"),  # signs in with nothing
        (9005, "other", None, "sam.stone", "active"),  # another tenant's
        (9006, "district", None, "sam.stones", "active"),  # another login
        (9007, "district", "hand-7", "kim.lee", "active"),
        (9008, "district", None, None, "active"),  # no login
    )

    assert_frame_equal(
        found(warehouse, ["sam.stone", "KIM.LEE", None, "nobody"]),
        pl.DataFrame(
            {"user_id": [9001, 9002, 9007], "login": ["Sam.Stone", " sam.stone\t", "kim.lee"]},
            schema=HAND_MADE_LOGINS_SCHEMA,
        ),
    )
    # no login asked of, nothing read
    assert_frame_equal(found(warehouse, []), pl.DataFrame(schema=HAND_MADE_LOGINS_SCHEMA))


def test_logins_are_compared_as_same_login_compares_them_beyond_ascii(tmp_path):
    """What `same_login` finds equal (`İ` lowered to two characters, a final `Σ`, spaces of any
    kind), and nothing else (an ASCII `I` is not `İ`): DuckDB's `lower` is not Polars', so the
    accounts are compared in Polars."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    accounts(
        warehouse,
        (9001, "district", None, "İlker", "active"),
        (9002, "district", None, "ΟΔΟΣ", "active"),
        (9003, "district", None, "\u3000José\u00a0", "active"),
        (9004, "district", None, "Ilker", "active"),
    )

    assert found(warehouse, ["i̇lker", "οδος", "josé"])["user_id"].to_list() == [9001, 9002, 9003]
