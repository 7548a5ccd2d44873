"""`rosterflow grades push URL`, end to end against a gradebook service the tests start
(`demo.gradebook_api.GradebookApi` under uvicorn), in OneRoster 1.1 and 1.2: the order and the
bodies, only what changed sent, refusals reported while the rest is sent, a server that goes
down, and the client secret shown nowhere."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator

import polars as pl
import pytest
import stamina
from typer.testing import CliRunner

from rosterflow.demo.api import serving
from rosterflow.demo.gradebook_api import GradebookApi
from rosterflow.flows.cli import app
from rosterflow.flows.operations import undo_run
from tests.feeds import tiny_district
from tests.gradebooks import TENANT, graded_warehouse
from tests.syncing import Warehouse, assert_stored_nowhere

runner = CliRunner()
SECRET = "Gb7-push-Secret-Value"
CLIENT = ("district-7", SECRET)
# what the tiny district's gradebook sends (tests/gradebooks.py: write_gradebook)
HOMEWORK = "cat-486f6d65776f726b"
SENT = [
    ("categories", HOMEWORK),
    ("lineItems", "li-101"),
    ("lineItems", "li-102"),
    ("lineItems", "li-103"),
    ("results", "res-101-2"),
    ("results", "res-102-3"),
]
MODIFIED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


pytestmark = pytest.mark.usefixtures("wide")


@pytest.fixture
def synced(tmp_path) -> Warehouse:
    return graded_warehouse(tmp_path)


@pytest.fixture(params=["1.1", "1.2"])
def version(request) -> str:
    return request.param


@pytest.fixture
def sis(version) -> Iterator[tuple[GradebookApi, str]]:
    """The SIS's gradebook service, and its base URL."""
    api = GradebookApi(version)
    with serving(api) as root:
        yield api, root + api.base_path


def push(warehouse: Warehouse, url: str, *options: str, env: dict | None = None):
    return runner.invoke(
        app,
        [
            "grades",
            "push",
            url,
            "--warehouse",
            str(warehouse.path),
            "--tenant",
            TENANT,
            *options,
        ],
        env=env,
    )


def said(output: str) -> str:
    return " ".join(output.split())


def pushes(warehouse: Warehouse) -> list[tuple]:
    return warehouse.query(
        "select grade_run_id, entity, sourced_id, status, outcome, reason "
        "from audit.grade_pushes order by grade_run_id, entity, sourced_id"
    ).rows()


@pytest.mark.slow
def test_a_push_sends_categories_then_line_items_then_results_as_the_binding_says(
    synced, sis, version
):
    api, url = sis

    done = push(synced, url)

    assert done.exit_code == 0, done.output
    assert (
        f"OneRoster {version}: sent 1 category, 3 line items, 2 results; 0 unchanged (not sent again)"
        in said(done.output)
    )
    assert "3 records not sent" in said(done.output)  # the export's exclusions, listed
    assert "line_item.hand_made_course" in done.output
    # every category before any line item, every line item before any result
    assert [collection for collection, _ in api.puts] == [c for c, _ in SENT]
    assert sorted(api.puts) == sorted(SENT)
    assert all(request.startswith("PUT ") for request in api.requests)
    category = api.records["categories"][HOMEWORK]
    assert MODIFIED.fullmatch(category.pop("dateLastModified"))
    assert category == {"sourcedId": HOMEWORK, "status": "active", "title": "Homework"}
    line_item = api.records["lineItems"]["li-101"]
    assert MODIFIED.fullmatch(line_item.pop("dateLastModified"))
    session = {"sourcedId": "t1", "type": "academicSession"}
    assert line_item == {
        "sourcedId": "li-101",
        "status": "active",
        "title": "Homework 1",
        "assignDate": "2027-02-01T00:00:00.000Z",
        "dueDate": "2027-02-01T00:00:00.000Z",
        "class": {"sourcedId": "k1", "type": "class"},
        "category": {"sourcedId": HOMEWORK, "type": "category"},
        "resultValueMin": 0.0,
        "resultValueMax": 10.0,
    } | (
        {"gradingPeriod": session}
        if version == "1.1"
        else {"academicSession": session, "school": {"sourcedId": "s1", "type": "org"}}
    )
    result = api.records["results"]["res-101-2"]
    assert MODIFIED.fullmatch(result.pop("dateLastModified"))
    assert result == {
        "sourcedId": "res-101-2",
        "status": "active",
        "lineItem": {"sourcedId": "li-101", "type": "lineItem"},
        "student": {"sourcedId": "u-s1", "type": "user"},
        "scoreStatus": "fully graded",
        "score": 8.0,
        "scoreDate": "2027-02-02",
        "comment": "ok",
    } | ({"class": {"sourcedId": "k1", "type": "class"}} if version == "1.2" else {})
    # the push is a grades run, and what the SIS acknowledged is recorded with its hash
    assert synced.query(
        "select kind, oneroster_version, destination, outcome, categories, line_items, results, "
        "excluded, unchanged, refused from audit.grade_runs"
    ).rows() == [("push", version, url, "pushed", 1, 3, 2, 3, 0, 0)]
    recorded = synced.query("select sourced_id, status, outcome, body_hash from audit.grade_pushes")
    assert sorted(recorded["sourced_id"]) == sorted(sourced_id for _, sourced_id in SENT)
    assert set(recorded["status"]) == {201} and set(recorded["outcome"]) == {"sent"}
    assert recorded["body_hash"].str.contains(r"^[0-9a-f]{32}$").all()


@pytest.mark.slow
def test_a_second_push_with_nothing_changed_sends_nothing(synced, sis):
    api, url = sis
    assert push(synced, url).exit_code == 0

    asked = len(api.requests)
    again = push(synced, url)

    assert again.exit_code == 0, again.output
    assert "sent 0 categories, 0 line items, 0 results; 6 unchanged (not sent again)" in said(
        again.output
    )
    assert len(api.requests) == asked  # the SIS was not even called
    assert synced.query("select grade_run_id, outcome, unchanged from audit.grade_runs").rows() == [
        (1, "pushed", 0),
        (2, "pushed", 6),
    ]
    assert [row for row in pushes(synced) if row[0] == 2] == []


@pytest.mark.slow
def test_a_changed_score_sends_that_result_alone(synced, sis):
    api, url = sis
    assert push(synced, url).exit_code == 0
    synced.execute("update lms.scores set score = 9.5 where line_item_id = 101")

    again = push(synced, url)

    assert again.exit_code == 0, again.output
    assert "sent 0 categories, 0 line items, 1 result; 5 unchanged (not sent again)" in said(
        again.output
    )
    assert api.puts[len(SENT) :] == [("results", "res-101-2")]
    assert api.records["results"]["res-101-2"]["score"] == 9.5
    assert [row[1:5] for row in pushes(synced) if row[0] == 2] == [
        ("result", "res-101-2", 200, "sent")
    ]
    # with --full, every record again
    full = push(synced, url, "--full")
    assert full.exit_code == 0 and "sent 1 category, 3 line items, 2 results" in said(full.output)


@pytest.mark.slow
def test_a_sync_and_its_undo_between_pushes_send_nothing_and_delete_nothing(synced, sis):
    """A student leaves class k1 and class k3 leaves the SIS: the next push sends nothing new,
    lists the result and the line item as not sent, and deletes nothing in the SIS. Once the
    sync is undone the gradebook is as the SIS holds it: nothing to send."""
    api, url = sis
    assert push(synced, url).exit_code == 0
    district = tiny_district()
    resynced = synced.sync(
        district
        | {
            "classes": district["classes"].filter(pl.col("sourcedId") != "k3"),
            "enrollments": district["enrollments"].filter(
                ~pl.col("sourcedId").is_in(["e2", "e5", "e6"])
            ),
        },
        settings={"safety": {"max_removal_share": 1.0}},
    )
    assert resynced.outcome == "applied", resynced

    after_sync = push(synced, url)

    assert after_sync.exit_code == 0, after_sync.output
    shown = said(after_sync.output)
    assert "sent 0 categories, 0 line items, 0 results; 4 unchanged (not sent again)" in shown
    assert "5 records not sent" in shown
    assert "student u-s1 is not actively enrolled in class k1 (enrollment inactive)" in shown
    assert "class k3 of course" in shown and "is no longer among the SIS's records" in shown
    # nothing sent again (the first push's records go in parallel within a file: in any
    # order), and the SIS keeps what it holds
    assert sorted(api.puts) == sorted(SENT)
    assert "res-101-2" in api.records["results"]
    assert synced.query(
        "select sourced_id, reason from audit.grade_exclusions where grade_run_id = 2 "
        "order by sourced_id"
    ).rows() == [
        ("li-1000", "line_item.hand_made_course"),
        ("li-103", "line_item.class_not_in_sis"),
        ("res-1000-2", "result.line_item_not_sent"),
        ("res-101-2", "result.not_enrolled"),
        ("res-103-3", "result.line_item_not_sent"),
    ]

    assert undo_run(synced.path, resynced.run_id).outcome == "applied"
    after_undo = push(synced, url)

    assert after_undo.exit_code == 0, after_undo.output
    assert "sent 0 categories, 0 line items, 0 results; 6 unchanged (not sent again)" in said(
        after_undo.output
    )
    assert sorted(api.puts) == sorted(SENT)


@pytest.mark.slow
def test_records_the_sis_refuses_are_reported_and_the_rest_is_sent(synced, sis):
    api, url = sis
    api.refuse = {
        "li-102": (409, "a line item of that title exists in class k2"),
        "res-101-2": (403, "the grade is locked: the term is closed"),
    }

    done = push(synced, url)

    assert done.exit_code == 1, done.output
    shown = said(done.output)
    assert "lineItem li-102 409 a line item of that title exists in class k2" in shown
    assert "result res-101-2 403 the grade is locked: the term is closed" in shown
    # the result of the refused line item is held back, not sent to be refused again
    assert "result res-102-3 held not sent: its line item li-102 was refused by the SIS" in shown
    assert (
        ": sent 1 category, 2 line items, 0 results; 0 unchanged (not sent again); 2 records "
        "refused by the SIS; 1 held back (its category or line item was not accepted); 3 "
        "records not sent"
    ) in shown
    assert "refused in part — grades run 1, tenant district, OneRoster" in shown
    assert sorted(api.puts) == [
        ("categories", HOMEWORK),
        ("lineItems", "li-101"),
        ("lineItems", "li-103"),
    ]
    assert synced.query("select outcome, refused from audit.grade_runs").rows() == [("refused", 3)]

    # the SIS takes them now: the next push sends exactly what was not accepted
    api.refuse = {}
    again = push(synced, url)

    assert again.exit_code == 0, again.output
    assert sorted(api.puts[3:]) == [
        ("lineItems", "li-102"),
        ("results", "res-101-2"),
        ("results", "res-102-3"),
    ]
    assert "sent 0 categories, 1 line item, 2 results; 3 unchanged (not sent again)" in said(
        again.output
    )


@pytest.mark.slow
@pytest.mark.parametrize("down", ["refusing connections", "answering 503"])
def test_a_server_that_is_down_ends_in_one_line_and_nothing_is_recorded_as_sent(
    synced, version, down
):
    api = GradebookApi(version)
    with serving(api) as root:
        url = root + api.base_path
        if down == "answering 503":
            api.fault = lambda method, path, query: (503, {}, b"{}")
            with stamina.set_testing(True, attempts=2):
                done = push(synced, url)
    if down == "refusing connections":
        with stamina.set_testing(True, attempts=2):
            done = push(synced, url)  # the server is gone

    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1, done.output
    assert said(done.output).startswith(f"rosterflow: {url}/categories/{HOMEWORK}: ")
    ending = {
        "refusing connections": "All connection attempts failed (2 tries)",
        "answering 503": "HTTP 503 Service Unavailable after 2 tries",
    }[down]
    assert said(done.output).endswith(f": {ending}; nothing was sent"), done.output
    assert synced.query("select count(*) from audit.grade_runs").item() == 0
    assert synced.query("select count(*) from audit.grade_pushes").item() == 0


@pytest.mark.slow
def test_a_server_that_goes_down_midway_keeps_what_it_acknowledged(synced, sis):
    api, url = sis
    api.fault = lambda method, path, query: (
        (502, {}, b"bad gateway") if "/results/" in path else None
    )
    with stamina.set_testing(True, attempts=2):
        done = push(synced, url)

    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1, done.output
    # which result's PUT failed first is up to the requests in flight
    assert re.fullmatch(
        rf"rosterflow: {re.escape(url)}/results/res-(101-2|102-3): HTTP 502 Bad Gateway after 2 "
        r"tries; the push stopped: the SIS acknowledged 4 records before, recorded as sent "
        r"\(grades run 1\); the next push sends the rest",
        said(done.output),
    ), done.output
    assert synced.query(
        "select outcome, categories, line_items, results from audit.grade_runs"
    ).rows() == [("failed", 1, 3, 0)]
    assert {row[4] for row in pushes(synced)} == {"sent"}  # no result: none was acknowledged

    api.fault = None
    again = push(synced, url)

    assert again.exit_code == 0, again.output
    assert sorted(api.puts[4:]) == [("results", "res-101-2"), ("results", "res-102-3")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://sis.example/ims/oneroster/rostering/v1p2",
            "OneRoster 1.2 serves the gradebook apart from the roster; give the base URL ending "
            "in /ims/oneroster/gradebook/v1p2",
        ),
        ("https://sis.example/api/grades", "not a OneRoster gradebook base URL"),
        ("sis.example/ims/oneroster/v1p1", "not an http:// or https:// URL"),
    ],
)
def test_a_url_that_is_no_gradebook_base_exits_2(synced, url, message):
    done = push(synced, url)

    assert done.exit_code == 2, done.output
    assert message in said(done.output)
    assert synced.query("select count(*) from audit.grade_runs").item() == 0


def test_a_push_for_a_tenant_never_synced_exits_2(synced):
    done = runner.invoke(
        app,
        [
            "grades",
            "push",
            "https://sis.example/ims/oneroster/v1p1",
            "--warehouse",
            str(synced.path),
            "--tenant",
            "nobody",
        ],
    )
    assert done.exit_code == 2 and "--tenant nobody: no sync was ever applied" in said(done.output)


def test_the_secret_is_never_printed_logged_or_stored(synced, caplog):
    """A push whose credentials are refused, and a verbose push that retries and is refused a
    record: neither the secret nor its Basic form shows in the output, the log or the
    warehouse; the token asks for the gradebook's write scope."""
    basic = base64.b64encode(f"{CLIENT[0]}:{SECRET}".encode()).decode()
    caplog.set_level(logging.DEBUG)  # every library's debug lines too
    api = GradebookApi("1.1", client=CLIENT, refuse={"res-101-2": (403, "locked")})
    with serving(api) as root:
        url = root + api.base_path
        env = {
            "ROSTERFLOW_TOKEN_URL": root + "/token",
            "ROSTERFLOW_CLIENT_ID": CLIENT[0],
            "ROSTERFLOW_CLIENT_SECRET": SECRET,
        }
        refused = push(synced, url, "--verbose", env=env | {"ROSTERFLOW_CLIENT_SECRET": "x"})
        failures = iter([True])
        api.fault = lambda method, path, query: (
            (503, {"Retry-After": "0"}, b"{}")
            if "/lineItems/" in path and next(failures, False)
            else None
        )
        pushed = push(synced, url, "--verbose", env=env)
    assert refused.exit_code == 2, refused.output
    assert "refused the credentials of client 'district-7'" in said(refused.output)
    assert "nothing was sent" in said(refused.output)
    assert pushed.exit_code == 1, pushed.output
    assert "HTTP 503" in said(pushed.output)  # the retry was logged, and shown
    assert api.scopes == ["https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput"]
    for text in [refused.output, pushed.output, caplog.text]:
        assert SECRET not in text and basic not in text
    assert_stored_nowhere(synced.path, SECRET)


def test_an_empty_gradebook_sends_nothing_and_needs_no_sis(synced):
    synced.execute("delete from lms.scores; delete from lms.line_items")

    done = push(synced, "https://sis.invalid/ims/oneroster/v1p1")  # never called

    assert done.exit_code == 0, done.output
    assert "pushed — grades run 1" in done.output
    assert "sent 0 categories, 0 line items, 0 results; 0 unchanged" in said(done.output)
