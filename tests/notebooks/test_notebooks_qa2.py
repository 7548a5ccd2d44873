"""notebooks/sync_audit.py where a district's data team read it wrong: a grades push that
stopped without the SIS's answer to a PUT (a gateway's 504; the SIS stored the score) was
counted among the records the SIS refused ("refused, not accepted since", "1 record not
accepted"), where the push's own report says the SIS may hold it and `audit.grade_runs`
counts no refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import stamina

from rosterflow.demo.api import serving
from tests.flows.test_grades_qa2 import GatewayTimingOut, push
from tests.flows.test_grades_qa3 import LosingThenAnswering
from tests.gradebooks import graded_warehouse
from tests.notebooks.test_notebooks import ROOT, _shown, export_html

pytestmark = pytest.mark.slow

SYNC_AUDIT = ROOT / "notebooks" / "sync_audit.py"


def stat(shown: str, label: str) -> int:
    """The value of the notebook's stat labelled `label`."""
    (value,) = re.findall(rf"data-value='(\d+)' data-label='\"{re.escape(label)}\"'", shown)
    return int(value)


def test_a_put_left_unanswered_is_not_counted_as_refused(tmp_path: Path):
    """Two SISes, each first sent the whole gradebook. The first stores a changed score and
    its answer is lost (504): the push stops, the record unanswered. The second stores
    another changed score, answers 504, and refuses the retry (409): unanswered too, but
    refused, as the push reports it. One record is not accepted, and one the SIS may hold."""
    warehouse = graded_warehouse(tmp_path)
    stopping = GatewayTimingOut("1.1")
    refusing = LosingThenAnswering("1.1", (409, "the result exists"))
    with stamina.set_testing(True, attempts=2):
        with serving(stopping) as root:
            url = root + stopping.base_path
            assert push(warehouse, url).exit_code == 0
            warehouse.execute("update lms.scores set score = 9 where line_item_id = 101")
            stopping.lost = frozenset({"res-101-2"})
            assert push(warehouse, url).exit_code == 2  # stopped, res-101-2 unanswered
        with serving(refusing) as root:
            url = root + refusing.base_path
            assert push(warehouse, url).exit_code == 0
            warehouse.execute("update lms.scores set score = 7 where line_item_id = 102")
            refusing.lost = frozenset({"res-102-3"})
            assert push(warehouse, url).exit_code == 1  # res-102-3's retry refused
    assert warehouse.query(
        "select outcome, count(*) from audit.grade_pushes where outcome <> 'sent' group by all"
    ).rows() == [("unanswered", 2)]
    assert (
        warehouse.query("select sum(refused) from audit.grade_runs where kind = 'push'").item() == 1
    )

    export = export_html(SYNC_AUDIT, warehouse.path, tmp_path / "export")

    assert export.returncode == 0, export.log
    shown = _shown(export)
    section = shown[shown.index("Grades sent back to the SIS") : shown.index("SQL: grade_runs")]
    assert stat(section, "refused, not accepted since") == 1
    assert stat(section, "unanswered, not acknowledged since") == 1
    assert "1 record not accepted" in section
    assert "1 record unanswered" in section
    assert "the SIS may hold it" in section
