"""The gradebook tables in a real warehouse: what a platform may write, what an export reads,
and the history each grades run keeps."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
import pytest

from rosterflow.schemas.gradebook import EXCLUSION_SCHEMA, PUSH_OUTCOME_SCHEMA, PUSH_RECORD_SCHEMA
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.vocabulary import SCORE_STATUSES
from rosterflow.warehouse.gradebook import (
    GradesRun,
    gradebook_inputs,
    record_grades_run,
    snapshot_gradebook,
    with_acknowledged,
)
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import lms_checksum
from tests.feeds import tiny_district
from tests.syncing import Warehouse

T0, T1, T2 = (datetime(2026, 10, day) for day in (1, 2, 3))


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        yield con


def add_item(con, line_item_id: int, tenant: str = "north", **fields) -> None:
    row = {
        "line_item_id": line_item_id,
        "tenant": tenant,
        "course_id": 10,
        "title": f"HW {line_item_id}",
        "due_date": "2026-09-30",
        "points_possible": 10,
    } | fields
    con.execute(
        f"insert into lms.line_items ({', '.join(row)}) values ({', '.join('?' * len(row))})",
        list(row.values()),
    )


def versions(con, table: str, key: str) -> list[tuple]:
    return con.execute(
        f"select {key}, valid_from, valid_to, opened_grade_run_id, closed_grade_run_id "
        f"from history.{table} order by {key}, valid_from"
    ).fetchall()


def test_a_platform_writing_only_the_minimum_gets_the_defaults(con):
    add_item(con, 1)
    con.execute("insert into lms.scores (line_item_id, user_id, score) values (1, 5, 7.5)")

    item = con.sql("select min_score, category, assign_date, status from lms.line_items")
    score = con.sql("select status, graded_at is not null, late from lms.scores")
    assert item.fetchall() == [(0.0, None, None, "active")]
    assert score.fetchall() == [("fully graded", True, None)]


@pytest.mark.parametrize(
    "statement",
    [
        "insert into lms.scores (line_item_id, user_id, status) values (1, 5, 'graded')",
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible, status) values (1, 't', 1, 'x', '2026-09-30', 1, 'hidden')",
        "insert into lms.line_items (line_item_id, tenant, course_id, title) values (1, 't', 1, 'x')",
        "insert into lms.scores (line_item_id, user_id) values (1, 5), (1, 5)",
    ],
)
def test_a_platform_writing_what_a_gradebook_cannot_hold_is_refused(con, statement):
    with pytest.raises(duckdb.ConstraintException):
        con.execute(statement)


def test_the_score_statuses_the_table_admits_are_oneroster_s(con):
    for user_id, status in enumerate(SCORE_STATUSES):
        con.execute(
            "insert into lms.scores (line_item_id, user_id, status) values (1, ?, ?)",
            [user_id, status],
        )
    assert con.sql("select count(*) from lms.scores").fetchall() == [(len(SCORE_STATUSES),)]


def test_a_platform_may_upsert_a_score(con):
    con.execute("insert into lms.scores (line_item_id, user_id, score) values (1, 5, 7)")
    con.execute(
        "insert into lms.scores (line_item_id, user_id, score) values (1, 5, 9) "
        "on conflict do update set score = excluded.score"
    )
    assert con.sql("select score from lms.scores").fetchall() == [(9.0,)]


def test_history_opens_a_version_per_row_new_or_changed_and_closes_what_changed_or_went(con):
    add_item(con, 1)
    add_item(con, 2)
    add_item(con, 3, tenant="south")
    con.execute("insert into lms.scores (line_item_id, user_id, score) values (1, 5, 7), (2, 5, 8)")
    snapshot_gradebook(con, "north", 1, T0)

    snapshot_gradebook(con, "north", 2, T1)  # nothing changed: no new version
    con.execute("update lms.line_items set title = 'Essay' where line_item_id = 1")
    con.execute("update lms.scores set score = 9 where line_item_id = 2")
    con.execute("delete from lms.line_items where line_item_id = 2")  # its score stays behind
    snapshot_gradebook(con, "north", 3, T2)

    assert versions(con, "line_items", "line_item_id") == [
        (1, T0, T2, 1, 3),
        (1, T2, None, 3, None),
        (2, T0, T2, 1, 3),
    ]
    assert versions(con, "scores", "line_item_id") == [(1, T0, None, 1, None), (2, T0, T2, 1, 3)]
    assert con.sql("select title from history.line_items where valid_to is null").fetchall() == [
        ("Essay",)
    ]
    assert con.sql("select distinct tenant from history.scores").fetchall() == [("north",)]


def test_a_row_with_empty_fields_keeps_its_version(con):
    add_item(con, 1, category=None, description=None)
    con.execute("insert into lms.scores (line_item_id, user_id) values (1, 5)")  # no score
    snapshot_gradebook(con, "north", 1, T0)
    snapshot_gradebook(con, "north", 2, T1)

    assert versions(con, "line_items", "line_item_id") == [(1, T0, None, 1, None)]
    assert versions(con, "scores", "line_item_id") == [(1, T0, None, 1, None)]


def test_a_grades_run_is_recorded_with_its_exclusions_and_history(con):
    add_item(con, 1)
    exclusions = pl.DataFrame(
        [("lineItem", "li-1", 1, None, "line_item.inactive", "line item 1 is inactive")],
        schema=EXCLUSION_SCHEMA,
        orient="row",
    )
    run = GradesRun("north", "export", "1.2", "out.zip", T0, {"categories": 1, "lineItems": 2})

    first = record_grades_run(con, run, exclusions)
    second = record_grades_run(con, run, exclusions.clear())

    assert (first, second) == (1, 2)
    assert con.sql(
        "select grade_run_id, tenant, kind, oneroster_version, destination, outcome, categories, "
        "line_items, results, excluded from audit.grade_runs order by 1"
    ).fetchall() == [
        (1, "north", "export", "1.2", "out.zip", "exported", 1, 2, 0, 1),
        (2, "north", "export", "1.2", "out.zip", "exported", 1, 2, 0, 0),
    ]
    assert con.sql("select * from audit.grade_exclusions").fetchall() == [
        (1, "lineItem", "li-1", 1, None, "line_item.inactive", "line item 1 is inactive")
    ]
    assert versions(con, "line_items", "line_item_id") == [(1, T0, None, 1, None)]


def test_an_export_reads_the_tenants_gradebook_and_only_what_it_concerns(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) select 100 + course_id, 'district', course_id, 'HW', '2026-09-30', 10 "
        "from lms.courses where external_id = 'or--k1'"
    )
    warehouse.execute(
        "insert into lms.scores (line_item_id, user_id, score) select line_item_id, user_id, 8 "
        "from lms.line_items, lms.users where external_id = 'or--u-s1'"
    )
    with connect(warehouse.path) as con:
        before = lms_checksum(con, "district")
        inputs = {
            name: frame.collect() for name, frame in gradebook_inputs(con, "district").items()
        }
        elsewhere = gradebook_inputs(con, "another")["line_items"].collect()
        assert lms_checksum(con, "district") == before  # the sync's checksum never sees them

    assert inputs["line_items"]["title"].to_list() == ["HW"]
    assert inputs["scores"].height == 1
    assert inputs["courses"]["external_id"].to_list() == ["or--k1"]
    assert inputs["users"]["external_id"].to_list() == ["or--u-s1"]
    assert inputs["enrollments"]["external_id"].to_list() == ["or--e2"]
    assert sorted(inputs["classes"]["sourcedId"]) == ["k1", "k2", "k3"]
    assert inputs["classes"].filter(pl.col("sourcedId") == "k2")["termSourcedIds"].item() == "t1,t2"
    assert sorted(inputs["sessions"]["sourcedId"]) == ["t1", "t2", "y1"]
    assert elsewhere.height == 0


def test_the_gradebook_tables_are_no_sync_entities():
    assert {"line_items", "scores"}.isdisjoint(entity.table for entity in ENTITIES.values())


# --- a push: what the SIS holds, by hash -----------------------------------------------------

URL = "https://sis.example/ims/oneroster/v1p1"


def push_records(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """entity, sourcedId, record (no parent)."""
    return pl.DataFrame(
        [(entity, sid, None, record) for entity, sid, record in rows],
        schema=PUSH_RECORD_SCHEMA,
        orient="row",
    )


def record_push(con, records: pl.DataFrame, outcomes: dict[str, str], **run) -> int:
    """Record a push of `records` whose outcome per sourcedId is `outcomes` (sent by default)."""
    hashed = with_acknowledged(con, run.get("tenant", "north"), run.get("url", URL), records)
    answered = hashed.select(
        "entity",
        "sourcedId",
        pl.lit(201, pl.Int64).alias("status"),
        pl.col("sourcedId").replace_strict(outcomes, default="sent").alias("outcome"),
        pl.lit(None, pl.String).alias("reason"),
        "body_hash",
    ).cast(PUSH_OUTCOME_SCHEMA | {"body_hash": pl.String})
    push = GradesRun(run.get("tenant", "north"), "push", "1.1", run.get("url", URL), T0, {})
    return record_grades_run(con, push, pl.DataFrame(schema=EXCLUSION_SCHEMA), answered)


def test_a_record_is_acknowledged_when_the_sis_last_acknowledged_its_very_body(con):
    first = push_records(("category", "cat-a", '{"t":"A"}'), ("lineItem", "li-1", '{"t":1}'))
    record_push(con, first, {"li-1": "refused"})
    now = push_records(
        ("category", "cat-a", '{"t":"A"}'),  # as acknowledged
        ("lineItem", "li-1", '{"t":1}'),  # refused: not held by the SIS
        ("lineItem", "li-2", '{"t":2}'),  # new
    )

    found = with_acknowledged(con, "north", URL, now)

    assert found.select("sourcedId", "acknowledged").rows() == [
        ("cat-a", True),
        ("li-1", False),
        ("li-2", False),
    ]
    assert found["body_hash"].to_list() == [
        con.execute("select md5(?)", [text]).fetchall()[0][0] for text in now["record"]
    ]
    # another tenant, or another SIS, holds none of it
    assert not with_acknowledged(con, "south", URL, now)["acknowledged"].any()
    assert not with_acknowledged(con, "north", URL + "x", now)["acknowledged"].any()


def test_the_latest_acknowledged_body_is_what_the_sis_holds(con):
    record_push(con, push_records(("result", "res-1-1", '{"score":8.0}')), {})
    record_push(con, push_records(("result", "res-1-1", '{"score":9.0}')), {})
    # a later push refused to go back to 8: the SIS holds 9
    record_push(con, push_records(("result", "res-1-1", '{"score":8.0}')), {"res-1-1": "refused"})

    assert with_acknowledged(
        con, "north", URL, push_records(("result", "res-1-1", '{"score":9.0}'))
    )["acknowledged"].to_list() == [True]
    assert with_acknowledged(
        con, "north", URL, push_records(("result", "res-1-1", '{"score":8.0}'))
    )["acknowledged"].to_list() == [False]
    assert con.sql(
        "select grade_run_id, entity, sourced_id, status, outcome from audit.grade_pushes "
        "order by grade_run_id"
    ).fetchall() == [
        (1, "result", "res-1-1", 201, "sent"),
        (2, "result", "res-1-1", 201, "sent"),
        (3, "result", "res-1-1", 201, "refused"),
    ]


def test_history_may_hold_the_gradebook_as_a_push_read_it_not_as_it_is_now(con):
    add_item(con, 1)
    read = (
        con.sql("select * from lms.line_items").pl(),
        con.sql("select * from lms.scores").pl(),
    )
    con.execute("update lms.line_items set title = 'Changed while sending'")
    push = GradesRun("north", "push", "1.1", URL, T0, {})

    record_grades_run(con, push, pl.DataFrame(schema=EXCLUSION_SCHEMA), None, read)

    assert con.sql("select title from history.line_items").fetchall() == [("HW 1",)]
