"""`rosterflow grades export` and `grades push` where a district's data team met them wrong: a
teacher's score called a student's, a student a sync deleted and made again sent as a second
result, and a push to a wrong URL or a web site taken for the SIS refusing records."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import serving
from rosterflow.demo.gradebook_api import GradebookApi
from rosterflow.flows.cli import app
from tests.feeds import tiny_district
from tests.gradebooks import TENANT, graded_warehouse
from tests.syncing import Warehouse

runner = CliRunner()

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("wide")]

# a sync that deletes what the SIS stops sending, the whole of it if need be
DELETING = {
    "policy": {"users": "delete", "enrollments": "delete"},
    "safety": {"max_removal_share": 1.0},
}


@pytest.fixture
def synced(tmp_path) -> Warehouse:
    return graded_warehouse(tmp_path)


@pytest.fixture
def sis() -> Iterator[tuple[GradebookApi, str]]:
    api = GradebookApi("1.1")
    with serving(api) as root:
        yield api, root + api.base_path


def said(output: str) -> str:
    return " ".join(output.split())


def export(warehouse: Warehouse, out: Path):
    return runner.invoke(
        app,
        ["grades", "export", str(out), "--warehouse", str(warehouse.path), "--tenant", TENANT],
    )


def push(warehouse: Warehouse, url: str):
    return runner.invoke(
        app, ["grades", "push", url, "--warehouse", str(warehouse.path), "--tenant", TENANT]
    )


def results_csv(out: Path) -> pl.DataFrame:
    return pl.read_csv(out / "results.csv", infer_schema=False)


# --- a score of a user who is no student -----------------------------------------------------


def test_a_teachers_score_is_not_sent_and_its_message_calls_them_a_teacher(synced, tmp_path):
    """A teacher who tried the quiz in the platform has a score there: no result of the SIS's,
    and the message says a teacher, where it said 'student u-t1 is not actively enrolled'."""
    synced.execute(
        "insert into lms.scores (line_item_id, user_id, score) "
        "select 100 + course_id, user_id, 5 from lms.enrollments "
        "where role = 'teacher' and external_id in ('or--e1', 'or--e5')"
    )

    done = export(synced, tmp_path / "grades")

    assert done.exit_code == 0, done.output
    assert set(results_csv(tmp_path / "grades")["studentSourcedId"]) == {"u-s1", "u-s2"}
    messages = synced.query(
        "select exclusions.sourced_id, exclusions.message from audit.grade_exclusions as "
        "exclusions join lms.users as users on users.user_id = exclusions.user_id "
        "where users.role = 'teacher' order by 1"
    ).rows()
    assert messages == [
        (
            "res-101-4",
            "teacher u-t1 is not actively enrolled as a student in class k1 "
            "(no student enrollment)",
        ),
        (
            "res-103-5",
            "teacher u-t2 is not actively enrolled as a student in class k3 "
            "(no student enrollment)",
        ),
    ]
    assert "student u-t" not in said(done.output)
    assert "teacher u-t1 is not actively enrolled as a student in class k1" in said(done.output)


def test_a_teacher_the_sis_enrolls_as_a_student_has_a_result_like_any_student(tmp_path):
    """A teacher enrolled as a student of a class (a staff member taking a course): the
    enrollment decides, not the role, and the teacher's score is a result of the SIS's."""
    district = tiny_district()
    enrollments = pl.concat(
        [
            district["enrollments"],
            district["enrollments"]
            .filter(pl.col("sourcedId") == "e2")
            .with_columns(sourcedId=pl.lit("e-t1"), userSourcedId=pl.lit("u-t2")),
        ]
    )
    warehouse = Warehouse(tmp_path, TENANT)
    assert warehouse.sync(district | {"enrollments": enrollments}).outcome == "applied"
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) select 7, tenant, course_id, 'Quiz', date '2027-02-01', 10 "
        "from lms.courses where external_id = 'or--k1'"
    )
    warehouse.execute(
        "insert into lms.scores (line_item_id, user_id, score) select 7, user_id, 9 "
        "from lms.users where external_id in ('or--u-s1', 'or--u-t2')"
    )

    done = export(warehouse, tmp_path / "grades")

    assert done.exit_code == 0, done.output
    assert sorted(results_csv(tmp_path / "grades")["studentSourcedId"]) == ["u-s1", "u-t2"]
    assert warehouse.query("select reason, message from audit.grade_exclusions").rows() == []


# --- a student deleted by a sync and back ----------------------------------------------------


def leave_and_come_back(warehouse: Warehouse) -> None:
    """Student u-s1 leaves the district (a deleting sync removes the row) and comes back (a new
    row, a new user_id); the teacher grades them again on the same column."""
    district = tiny_district()
    users = district["users"].filter(pl.col("sourcedId") != "u-s1")
    gone = district | {
        "users": users.with_columns(  # the parent no longer names the student gone
            agentSourcedIds=pl.when(pl.col("sourcedId") != "u-p1").then(pl.col("agentSourcedIds"))
        ),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-s1"),
    }
    assert warehouse.sync(gone, settings=DELETING).outcome == "applied"
    assert warehouse.sync(district, settings=DELETING).outcome == "applied"
    returned = warehouse.query(
        "select user_id from lms.users where external_id = 'or--u-s1'"
    ).item()
    assert returned != 2  # the sync made a new row: the premise of the test
    warehouse.execute(
        "insert into lms.scores (line_item_id, user_id, score, graded_at) "
        "values (101, ?, 7, timestamp '2027-03-01 10:00')",
        [returned],
    )


def test_a_student_deleted_and_made_again_keeps_the_one_result_of_each_line_item(synced, tmp_path):
    first = export(synced, tmp_path / "first")
    assert first.exit_code == 0, first.output
    assert ("res-101-2", "u-s1", "8") in results_csv(tmp_path / "first").select(
        "sourcedId", "studentSourcedId", "score"
    ).rows()

    leave_and_come_back(synced)
    again = export(synced, tmp_path / "again")

    assert again.exit_code == 0, again.output
    results = results_csv(tmp_path / "again")
    # the same sourcedId as before: the SIS updates its result instead of adding one
    assert results.filter(pl.col("studentSourcedId") == "u-s1").select(
        "sourcedId", "lineItemSourcedId", "score"
    ).rows() == [("res-101-2", "li-101", "7")]
    assert results["sourcedId"].is_unique().all()


def test_a_push_after_a_student_came_back_replaces_their_result_at_the_sis(synced, sis):
    api, url = sis
    assert push(synced, url).exit_code == 0

    leave_and_come_back(synced)
    again = push(synced, url)

    assert again.exit_code == 0, again.output
    held = {
        sourced_id: (record["student"]["sourcedId"], record["lineItem"]["sourcedId"])
        for sourced_id, record in api.records["results"].items()
    }
    assert held == {"res-101-2": ("u-s1", "li-101"), "res-102-3": ("u-s2", "li-102")}
    assert api.records["results"]["res-101-2"]["score"] == 7


# --- a push to a wrong URL, or to a web site ---------------------------------------------------


def pushes_recorded(warehouse: Warehouse) -> tuple[int, int]:
    return (
        warehouse.query("select count(*) from audit.grade_runs").item(),
        warehouse.query("select count(*) from audit.grade_pushes").item(),
    )


def test_a_push_to_a_wrong_base_url_exits_2_in_one_line_naming_it(synced, sis):
    """The SIS's host, a wrong path: every PUT answers 404. Not 'refused in part' (exit 1) with
    every record listed as refused, recorded as a refused push."""
    api, url = sis
    wrong = url.replace("/ims/", "/api/ims/")

    done = push(synced, wrong)

    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1, done.output
    assert said(done.output) == (
        f"rosterflow: {wrong}: HTTP 404 Not Found to the one record PUT, none acknowledged: no "
        "gradebook service there; give the base URL of the SIS's gradebook service; nothing "
        "was sent"
    )
    assert pushes_recorded(synced) == (0, 0)
    assert api.puts == []


def test_a_404_of_one_record_among_records_acknowledged_is_that_records_refusal(synced, sis):
    api, url = sis
    api.refuse = {"res-101-2": (404, "no student u-s1 in class k1")}

    done = push(synced, url)

    assert done.exit_code == 1, done.output
    assert "result res-101-2 404 no student u-s1 in class k1" in said(done.output)
    assert synced.query("select outcome from audit.grade_runs").rows() == [("refused",)]


WELCOME = b"<!doctype html><html><body><h1>Welcome to Springfield USD</h1></body></html>"


def answering_html(status: int, answered: list[str], page: bytes = WELCOME) -> Callable:
    """An ASGI app answering every request with `status` and `page` as `text/html`, as a web
    site does."""

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        answered.append(f"{scope['method']} {scope['path']}")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": page})

    return app


@pytest.mark.parametrize("status", [200, 404, 403])
def test_a_push_to_a_web_site_exits_2_and_counts_nothing_as_acknowledged(synced, status):
    """The district's web site, not its SIS: a 200 with its front page was counted as every
    record acknowledged (so never sent again), a 404 page as records refused (exit 1)."""
    answered: list[str] = []
    with serving(answering_html(status, answered)) as root:
        url = root + "/ims/oneroster/v1p1"
        done = push(synced, url)

    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1, done.output
    assert re.fullmatch(
        rf"rosterflow: {re.escape(url)}/categories/cat-486f6d65776f726b: HTTP {status} \w[\w ]* "
        r"with a web page \(text/html\), not a OneRoster API's answer: no gradebook service "
        r"there; give the base URL of the SIS's gradebook service; nothing was sent",
        said(done.output),
    ), done.output
    assert answered == ["PUT /ims/oneroster/v1p1/categories/cat-486f6d65776f726b"]
    assert pushes_recorded(synced) == (0, 0)


def test_a_404_to_the_one_record_changed_since_an_earlier_push_is_its_refusal(synced, sis):
    """The URL took the last push: a 404 now is the SIS's word on that record, not a wrong URL."""
    api, url = sis
    assert push(synced, url).exit_code == 0
    synced.execute("update lms.scores set score = 6 where line_item_id = 101")
    api.refuse = {"res-101-2": (404, "no student u-s1 in class k1")}

    done = push(synced, url)

    assert done.exit_code == 1, done.output
    assert "result res-101-2 404 no student u-s1 in class k1" in said(done.output)
    assert synced.query("select outcome from audit.grade_runs order by grade_run_id").rows() == [
        ("pushed",),
        ("refused",),
    ]


def test_a_sis_that_acknowledges_with_an_empty_text_html_answer_is_taken_at_its_word(synced):
    """A server that names no type of its own sends `text/html` with an empty 201 (PHP's
    default): that is an acknowledgment, not a web page."""
    answered: list[str] = []
    with serving(answering_html(201, answered, page=b"")) as root:
        done = push(synced, root + "/ims/oneroster/v1p1")

    assert done.exit_code == 0, done.output
    assert len(answered) == 6  # a category, three line items, two results
    assert synced.query(
        "select outcome, categories, line_items, results from audit.grade_runs"
    ).rows() == [("pushed", 1, 3, 2)]
