"""QA of the pages, second pass: what docs/explanation/course-hierarchy.md says an incremental
run derives of the hierarchy is what the plan derives, run by run (the last run's kept for a
change of students, the classes of the teachers concerned for a change of teachers, the
whole for a changed class); what docs/how-to/pull-from-an-api.md says of the files a pulled
folder keeps beside the feed is what a pull and a validation of it do; and a held run of the
default warehouse is decided as docs/how-to/held-runs.md says, in the sync's folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.flows.cli import app
from rosterflow.schemas.writer import write_feed
from rosterflow.transforms import incremental
from tests.docs.test_held_runs_page import cut_short, words
from tests.feeds import _enrollment, _user, tiny_district
from tests.states import Frames
from tests.syncing import Warehouse
from tests.transforms.test_incremental import edited, plus

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HIERARCHY_PAGE = ROOT / "docs/explanation/course-hierarchy.md"
PULL_PAGE = ROOT / "docs/how-to/pull-from-an-api.md"
HELD_RUNS_PAGE = ROOT / "docs/how-to/held-runs.md"

runner = CliRunner()


def incremental_section() -> str:
    """The page's section on incremental runs, its lines joined."""
    text = HIERARCHY_PAGE.read_text()
    return words(text.split("## In incremental runs", 1)[1])


class Derivations:
    """What an incremental plan derives of the hierarchy: the whole (`desired_courses`), or
    the sections of some classes (`class_sections`, the part a change of teachers can
    change), each call's classes recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.whole = 0
        self.parts: list[set[str]] = []
        whole, part = incremental.desired_courses, incremental.class_sections

        def counted_whole(*args, **kwargs):
            self.whole += 1
            return whole(*args, **kwargs)

        def recorded_part(classes: pl.LazyFrame, *args, **kwargs):
            self.parts.append(set(classes.collect()["sourcedId"]))
            return part(classes, *args, **kwargs)

        monkeypatch.setattr(incremental, "desired_courses", counted_whole)
        monkeypatch.setattr(incremental, "class_sections", recorded_part)


def student_renamed(district: Frames) -> Frames:
    return edited(district, "users", "u-s1", familyName="Stone-Rivera")


def class_passed_to_a_new_teacher(district: Frames) -> Frames:
    """k2 passes from u-t1 to u-t3, new at its school."""
    joined = plus(district, "users", _user("u-t3", "teacher", "s1", given="Grace", family="Hopper"))
    return edited(joined, "enrollments", "e3", userSourcedId="u-t3")


def class_given_a_second_teacher(district: Frames) -> Frames:
    """u-t1 co-teaches k3, a teacher enrollment that came."""
    return plus(district, "enrollments", _enrollment("e7", "k3", "s2", "u-t1", "teacher"))


def class_retitled(district: Frames) -> Frames:
    return edited(district, "classes", "k3", title="Biology - A")


def test_the_page_says_how_much_of_the_hierarchy_an_incremental_run_derives():
    """The page said the hierarchy was derived whole on every run that may change it, where a
    run that changes only classes' teachers derives again the classes of those teachers
    alone."""
    page = incremental_section()
    assert "A run that changes students only is such a run" in page
    assert "derives again only the part those can change" in page
    assert "derived from those teachers' classes alone" in page
    assert "Any other run derives the hierarchy whole" in page


@pytest.mark.parametrize(
    ("change", "whole", "parts"),
    [
        # the last run's hierarchy kept: nothing derived
        (student_renamed, False, []),
        # the classes of u-t1 and u-t3 alone (k1, k2), not k3 of another teacher
        (class_passed_to_a_new_teacher, False, [{"k1", "k2"}]),
        # a teacher enrollment that came: the classes of k3's teachers, u-t1's among them
        (class_given_a_second_teacher, False, [{"k1", "k2", "k3"}]),
        # a class record changed: the whole
        (class_retitled, True, []),
    ],
)
def test_an_incremental_run_derives_the_hierarchy_as_the_page_says(
    tmp_path, monkeypatch, change, whole, parts
):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    assert warehouse.sync(district).outcome == "applied"
    derived = Derivations(monkeypatch)

    result = warehouse.sync(change(district))

    assert (result.outcome, result.planning) == ("applied", "incremental")
    assert (derived.whole > 0, derived.parts) == (whole, parts)


def test_a_new_teachers_base_courses_come_of_the_part_derived(tmp_path, monkeypatch):
    """The part derived for a class passed to a new teacher makes that teacher's teacher and
    session base courses, as the whole would."""
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    assert warehouse.sync(district).outcome == "applied"
    derived = Derivations(monkeypatch)

    result = warehouse.sync(class_passed_to_a_new_teacher(district))

    assert derived.whole == 0
    created = warehouse.query(
        "select external_id from audit.changes where run_id = ? and entity = 'course' "
        "and action = 'create' order by external_id",
        [result.run_id],
    )["external_id"].to_list()
    assert created == ["or--sbc--s1--u-t3--t1--Algebra I", "or--tbc--s1--u-t3--Algebra I"]


def test_the_files_a_pulled_folder_keeps_are_warned_of_as_the_page_says(tmp_path):
    """The page said every other file or folder of a pulled folder stays, and not that a
    validation or sync of the folder warns of each (file.unknown), a folder's files too."""
    page = words(PULL_PAGE.read_text())
    assert (
        "every other file or folder there stays (`NOTES.md`, `archive/`), and is warned of when "
        "the folder is validated or synced (`file.unknown`, once per file"
    ) in page
    folder = tmp_path / "north"
    with serving(RosterApi(tiny_district())) as root:
        url = f"{root}/ims/oneroster/v1p1"
        assert runner.invoke(app, ["pull", url, str(folder)]).exit_code == 0
        (folder / "NOTES.md").write_text("pulled nightly\n")
        # last week's export kept in the folder, as a team archives it
        write_feed(folder / "archive", tiny_district())
        pulled = runner.invoke(app, ["pull", url, str(folder)])
    assert pulled.exit_code == 0, pulled.output
    archived = sorted(f"archive/{file.name}" for file in (folder / "archive").iterdir())

    report = tmp_path / "issues.csv"
    validated = runner.invoke(app, ["validate", str(folder), "--report", str(report)])

    assert validated.exit_code == 0, validated.output
    issues = pl.read_csv(report)
    assert sorted(issues["file"]) == sorted(["NOTES.md", *archived])
    assert set(issues["rule"]) == {"file.unknown"}
    assert set(issues["severity"]) == {"warning"}


def test_a_held_run_of_the_default_warehouse_is_decided_in_its_folder(tmp_path, monkeypatch):
    """The page said the message names the warehouse by its absolute path, to be typed in any
    folder, beside `rosterflow approve 41` alone for the default warehouse: that one is typed
    in the sync's folder, where `rosterflow.duckdb` is the warehouse."""
    page = words(HELD_RUNS_PAGE.read_text())
    assert (
        "but for the default warehouse, `rosterflow.duckdb` of the folder the sync ran in, which "
        "the message names by the run alone, `rosterflow approve 41`, to be typed in that folder"
    ) in page
    monkeypatch.chdir(tmp_path)
    feed = tmp_path / "whole.zip"
    assert runner.invoke(app, ["generate", str(feed), "--students", "10"]).exit_code == 0
    assert runner.invoke(app, ["sync", str(feed), "--tenant", "north"]).exit_code == 0
    cut = cut_short(feed, tmp_path / "north.zip")

    held = runner.invoke(app, ["sync", str(cut), "--tenant", "north"])

    assert held.exit_code == 1, held.output
    printed = words(held.output)
    assert "`rosterflow approve 2` applies exactly this plan" in printed
    assert "--warehouse" not in printed
    approved = runner.invoke(app, ["approve", "2"])
    assert approved.exit_code == 0, approved.output
    assert "approved held run 2" in approved.output
