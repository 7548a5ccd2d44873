"""docs/how-to/grades.md against `rosterflow grades export`: the message the page quotes for a
score that is not sent is the one the export gives."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from rosterflow.demo.api import serving
from rosterflow.demo.gradebook_api import GradebookApi
from rosterflow.flows.cli import app
from tests.gradebooks import TENANT, graded_warehouse

ROOT = Path(__file__).resolve().parents[2]
GRADES_PAGE = ROOT / "docs/how-to/grades.md"

runner = CliRunner()


def reason_row(rule: str) -> str:
    """The page's table row of the reason `rule`."""
    rows = [
        line for line in GRADES_PAGE.read_text().splitlines() if line.startswith(f"| `{rule}` |")
    ]
    assert len(rows) == 1, f"{GRADES_PAGE}: no single row for {rule}"
    return rows[0]


def test_the_message_quoted_for_a_teachers_score_is_the_one_the_export_gives(tmp_path):
    """The page quoted `user u-t1 is no student (role teacher in lms.users)`, which no
    version of the export says."""
    quoted = re.search(
        r"a teacher who tried the quiz: `([^`]+)`", reason_row("result.not_enrolled")
    )
    assert quoted, "the result.not_enrolled row quotes no teacher's message"
    warehouse = graded_warehouse(tmp_path)
    warehouse.execute(  # teacher u-t1 tried the quiz of their class k1
        "insert into lms.scores (line_item_id, user_id, score) "
        "select 100 + course_id, user_id, 5 from lms.enrollments "
        "where role = 'teacher' and external_id = 'or--e1'"
    )

    out, where = str(tmp_path / "grades"), str(warehouse.path)
    arguments = ["grades", "export", out, "--warehouse", where, "--tenant", TENANT]
    exported = runner.invoke(app, arguments)

    assert exported.exit_code == 0, exported.output
    messages = warehouse.query(
        "select message from audit.grade_exclusions where reason = 'result.not_enrolled'"
    ).rows()
    assert (quoted.group(1),) in messages


def push_paragraph() -> str:
    """The page's paragraph on what stops a push, on one line."""
    paragraphs = [
        " ".join(p.split())
        for p in GRADES_PAGE.read_text().split("\n\n")
        if p.startswith("What no record can mend stops the push")
    ]
    assert len(paragraphs) == 1, paragraphs
    return paragraphs[0]


def test_a_full_push_answered_404_throughout_after_an_acknowledged_push_is_refused(tmp_path):
    """After a push the SIS acknowledged, the URL is the gradebook's: `--full` resending every
    record, each answered 404, is each record's refusal (exit 1), not the wrong-URL stop."""
    warehouse = graded_warehouse(tmp_path)
    api = GradebookApi("1.1")
    with serving(api) as root:
        url = root + api.base_path
        arguments = ["grades", "push", url, "--warehouse", str(warehouse.path), "--tenant", TENANT]
        assert runner.invoke(app, arguments).exit_code == 0
        api.refuse = {
            sourced_id: (404, "not found")
            for records in api.records.values()
            for sourced_id in records
        }
        again = runner.invoke(app, [*arguments, "--full"])

    assert again.exit_code == 1, again.output
    assert "none acknowledged" not in " ".join(again.output.split())
    assert "a 404 is the record's own refusal (exit 1), with `--full` too" in push_paragraph()
