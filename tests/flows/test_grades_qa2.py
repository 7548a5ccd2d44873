"""`rosterflow grades export` and `grades push` where a district's data team met them wrong:
text pasted into the platform with a control character, and a due date typed with a five-digit
year, exported as a feed the product's own validator refuses; a PUT the SIS stored but never
answered (a gateway's timeout) taken for one it did not, so that a score set back to what the
SIS last acknowledged was never sent again."""

from __future__ import annotations

import asyncio
import json
import socket
import zipfile
from pathlib import Path

import polars as pl
import pytest
import stamina
from typer.testing import CliRunner

from rosterflow.demo.api import serving
from rosterflow.demo.gradebook_api import GradebookApi
from rosterflow.flows.cli import app
from rosterflow.sis.client import RetryPolicy, SisClient
from rosterflow.sis.push import PushStopped, put_records
from tests.flows.test_grades_qa import export, said
from tests.gradebooks import TENANT, graded_warehouse
from tests.syncing import Warehouse

runner = CliRunner()

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("wide")]


@pytest.fixture
def synced(tmp_path) -> Warehouse:
    return graded_warehouse(tmp_path)


def sourced_ids(feed: Path, name: str) -> list[str]:
    with zipfile.ZipFile(feed) as archive:
        return pl.read_csv(archive.read(name), infer_schema=False)["sourcedId"].to_list()


def test_text_with_a_control_character_is_not_exported_and_the_export_validates(synced, tmp_path):
    """A title pasted from a word processor (its line break a vertical tab) and a comment
    holding an ESC: exported, the feed failed `rosterflow validate` (value.control) and the
    SIS's import; now neither is sent, each exclusion names the column and the value, and
    the export is valid."""
    synced.execute("update lms.line_items set title = 'Quiz\x0b1' where line_item_id = 101")
    synced.execute("update lms.scores set comment = 'good\x1bjob' where line_item_id = 102")
    out = tmp_path / "grades.zip"

    done = export(synced, out)
    checked = runner.invoke(app, ["validate", str(out), "--warehouse", str(synced.path)])

    assert done.exit_code == 0, done.output
    assert checked.exit_code == 0, checked.output
    assert "grades.zip: valid — 0 errors, 0 warnings" in checked.output
    assert sourced_ids(out, "lineItems.csv") == ["li-102", "li-103"]
    with zipfile.ZipFile(out) as archive:  # no result sent: res-103-3 is out of range
        assert "results.csv" not in archive.namelist()
    assert synced.query(
        "select sourced_id, reason, message from audit.grade_exclusions "
        "where reason like '%control%' order by sourced_id"
    ).rows() == [
        (
            "li-101",
            "line_item.control_character",
            "line item 101 holds a control character (shown as \\xNN), which no OneRoster "
            "value may: title 'Quiz\\x0b1'",
        ),
        (
            "res-102-3",
            "result.control_character",
            "the score holds a control character (shown as \\xNN), which no OneRoster value "
            "may: comment 'good\\x1bjob'",
        ),
    ]
    assert "\x1b" not in done.output and "title 'Quiz\\x0b1'" in said(done.output)


def test_a_due_date_typed_with_a_five_digit_year_is_not_exported_and_the_export_validates(
    synced, tmp_path
):
    """A date field takes 20270 for 2027: exported as `+20270-02-01`, which `rosterflow
    validate` refused (date) and no SIS reads."""
    synced.execute("update lms.line_items set due_date = '20270-02-01' where line_item_id = 101")
    out = tmp_path / "grades.zip"

    done = export(synced, out)
    checked = runner.invoke(app, ["validate", str(out), "--warehouse", str(synced.path)])

    assert done.exit_code == 0, done.output
    assert checked.exit_code == 0, checked.output
    assert sourced_ids(out, "lineItems.csv") == ["li-102", "li-103"]
    assert synced.query(
        "select message from audit.grade_exclusions where sourced_id = 'li-101'"
    ).item() == (
        "a day of line item 101 is no OneRoster date (YYYY-MM-DD, a year of four digits): "
        "due_date +20270-02-01"
    )


# --- a PUT the SIS may have stored without an answer -------------------------------------------


class GatewayTimingOut(GradebookApi):
    """A SIS behind a gateway that stores the records in `lost` and answers their PUT 504
    Gateway Timeout: the answer lost on its way back."""

    lost: frozenset[str] = frozenset()

    def _serve(self, method, path, query, body):
        answer = super()._serve(method, path, query, body)
        if method == "PUT" and path.rsplit("/", 1)[-1] in self.lost:
            return 504, {}, b'{"imsx_description": "upstream timed out"}'
        return answer


def push(warehouse: Warehouse, url: str):
    return runner.invoke(
        app, ["grades", "push", url, "--warehouse", str(warehouse.path), "--tenant", TENANT]
    )


def set_back_and_pushed(warehouse: Warehouse, url: str, api) -> str:
    """The teacher sets res-101-2 back to 8, what the SIS last acknowledged, and the SIS
    answers again (`api.lost` emptied): what the next push said, once it exited 0 and the SIS
    holds the 8 (it was sent again)."""
    api.lost = frozenset()
    warehouse.execute("update lms.scores set score = 8 where line_item_id = 101")
    again = push(warehouse, url)
    assert again.exit_code == 0, again.output
    assert api.records["results"]["res-101-2"]["score"] == 8.0
    return said(again.output)


def test_a_record_the_sis_stored_without_an_answer_is_sent_again_by_the_next_push(synced):
    """A teacher gives 9, the push stops at that result with a 504 (the SIS stored the 9), the
    teacher sets it back to 8, what the SIS last acknowledged: the next push sent nothing and
    the SIS kept the 9. The result is recorded as unanswered, and the next push sends it."""
    api = GatewayTimingOut("1.1")
    with serving(api) as root, stamina.set_testing(True, attempts=2):
        url = root + api.base_path
        assert push(synced, url).exit_code == 0
        synced.execute("update lms.scores set score = 9 where line_item_id = 101")
        synced.execute("update lms.line_items set title = 'HW 1' where line_item_id = 101")
        api.lost = frozenset({"res-101-2"})

        stopped = push(synced, url)

        assert stopped.exit_code == 2, stopped.output
        assert api.records["results"]["res-101-2"]["score"] == 9.0
        assert synced.query(
            "select outcome, line_items, results, refused from audit.grade_runs "
            "where grade_run_id = 2"
        ).rows() == [("failed", 1, 0, 0)]
        assert synced.query(
            "select entity, sourced_id, status, outcome, reason from audit.grade_pushes "
            "where grade_run_id = 2 order by entity"
        ).rows() == [
            ("lineItem", "li-101", 200, "sent", None),
            (
                "result",
                "res-101-2",
                504,
                "unanswered",
                f"{url}/results/res-101-2: HTTP 504 Gateway Timeout after 2 tries",
            ),
        ]

        pushed = set_back_and_pushed(synced, url, api)
        assert "sent 0 categories, 0 line items, 1 result; 5 unchanged" in pushed


def categories(*sourced_ids: str) -> pl.DataFrame:
    """Category bodies as a push sends them."""
    return pl.DataFrame(
        {
            "sourcedId": list(sourced_ids),
            "body": [
                json.dumps({"category": {"sourcedId": s, "status": "active", "title": s}})
                for s in sourced_ids
            ],
        }
    )


def put(base: str, records: pl.DataFrame, policy: RetryPolicy) -> pl.DataFrame:
    async def run() -> pl.DataFrame:
        async with SisClient(None, concurrency=2, policy=policy) as client:
            return await put_records(client, base, "categories", records, 2)

    return asyncio.run(run())


class SlowSis:
    """An ASGI gradebook that answers each PUT after `delays[sourcedId]` seconds (while it
    answers the others), 201 or the status in `statuses`; `stored` the PUTs it took, as it
    takes them before it answers."""

    def __init__(self, delays: dict[str, float], statuses: dict[str, int]) -> None:
        self.delays, self.statuses = delays, statuses
        self.stored: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        sourced_id = scope["path"].rsplit("/", 1)[-1]
        status = self.statuses.get(sourced_id, 201)
        if status < 300:
            self.stored.append(sourced_id)
        await asyncio.sleep(self.delays.get(sourced_id, 0))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})


QUICK = RetryPolicy(attempts=1, wait_initial=0.01, wait_max=1.0, timeout=10.0)


def test_a_put_in_flight_when_the_push_stops_is_let_finish_and_its_answer_kept():
    """cat-a stops the push (405) while cat-b is in flight: cancelled, cat-b was stored by the
    SIS and counted as never sent. It is let finish, and its answer kept."""
    sis = SlowSis({"cat-b": 0.5}, {"cat-a": 405})
    with serving(sis) as root, pytest.raises(PushStopped) as stopped:
        put(root, categories("cat-a", "cat-b"), QUICK)

    assert "HTTP 405 Method Not Allowed" in str(stopped.value)
    assert stopped.value.answered.rows() == [("cat-b", 201, "sent", None)]
    assert sis.stored == ["cat-b"]


def test_a_put_that_timed_out_is_unanswered_and_one_never_sent_is_not():
    """A PUT whose answer did not come in time may be stored: unanswered. One that found no
    server to take it (the connection refused) reached nothing: no row, nothing recorded."""
    sis = SlowSis({"cat-late": 1.0}, {})
    with serving(sis) as root, pytest.raises(PushStopped) as stopped:
        put(root, categories("cat-late"), RetryPolicy(attempts=1, timeout=0.2))

    assert stopped.value.answered.rows() == [
        (
            "cat-late",
            None,
            "unanswered",
            f"{root}/categories/cat-late: no answer within 0.2 s, 1 try",
        )
    ]
    with socket.socket() as closed:  # a port no server listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(PushStopped) as refused:
        put(f"http://127.0.0.1:{port}", categories("cat-a"), QUICK)
    assert refused.value.answered.is_empty()


def test_a_push_stopped_unanswered_before_any_acknowledgement_is_recorded(synced):
    """The one record changed is stored by the SIS, its answer lost (504): 'nothing was sent'
    recorded nothing, and the score set back to 8 was never sent again."""
    api = GatewayTimingOut("1.1")
    with serving(api) as root, stamina.set_testing(True, attempts=2):
        url = root + api.base_path
        assert push(synced, url).exit_code == 0
        synced.execute("update lms.scores set score = 9 where line_item_id = 101")
        api.lost = frozenset({"res-101-2"})

        stopped = push(synced, url)

        assert stopped.exit_code == 2, stopped.output
        assert "nothing was sent" not in said(stopped.output)
        assert said(stopped.output).endswith(
            "the SIS acknowledged 0 records before, recorded as sent, and may hold 1 record it "
            "did not answer, recorded as unanswered (grades run 2); the next push sends the rest"
        ), stopped.output
        set_back_and_pushed(synced, url, api)
