"""A damaged feed arriving as a tenant's next feed: the resync (keyed files read by their
changed lines, records checked as they changed) records what `--full` of the same bytes records
on a copy of the same warehouse, and applies nothing that the full run rejects."""

from __future__ import annotations

from rosterflow.flows import steps
from tests.feeds import feed_files, tiny_district
from tests.flows.test_pipeline_lines_edges import assert_same_run, resync_and_full, synced
from tests.spying import answered_by_lines


def test_an_enrollment_without_a_sourcedid_is_rejected_by_a_resync_as_by_a_full_run(
    tmp_path, monkeypatch
):
    """enrollments.csv's e6 exported without its sourcedId, and a blank line at the end of
    users.csv (which sends the feed to the whole parse): the full run rejects the feed (the
    sourcedId is required); the resync applied it, and withdrew the student from the class."""
    by_lines = answered_by_lines(monkeypatch, steps)
    files = feed_files(tiny_district())
    warehouse = synced(tmp_path, files)
    files["users.csv"] += b"\n"
    files["enrollments.csv"] = files["enrollments.csv"].replace(b"\ne6,", b"\n,")

    ours, full, oracle = resync_and_full(warehouse, files)

    assert by_lines == [False]
    assert full.outcome == "rejected"
    assert set(full.issues.select("line", "field", "rule").iter_rows()) == {
        (7, "sourcedId", "required")
    }
    assert_same_run(ours, full, warehouse, oracle)


def test_a_class_without_a_sourcedid_is_rejected_by_a_resync_as_by_a_full_run(tmp_path):
    """A row of k1 appended to classes.csv without its sourcedId, nothing else changed: the
    full run rejects the feed; the resync applied it, with a warning that the class (null) has
    no teacher."""
    files = feed_files(tiny_district())
    warehouse = synced(tmp_path, files)
    header, first, *rest = files["classes.csv"].rstrip(b"\n").split(b"\n")
    orphan = b"," + first.split(b",", 1)[1]
    files["classes.csv"] = b"\n".join([header, first, *rest, orphan, b""])

    ours, full, oracle = resync_and_full(warehouse, files)

    assert full.outcome == "rejected"
    assert ("required", "sourcedId") in set(full.issues.select("rule", "field").iter_rows())
    assert_same_run(ours, full, warehouse, oracle)


def test_a_short_enrollment_beside_a_quoted_comma_in_an_identifier_is_rejected(tmp_path):
    """e1's sourcedId sent quoted with a comma in it, and e3's record short of its endDate:
    both runs find the short record (`file.ragged`) and reject the feed, where the comma once
    balanced the one the short record lacks and the feed applied with e3 padded."""
    files = feed_files(tiny_district())
    warehouse = synced(tmp_path, files)
    header, *records = files["enrollments.csv"].rstrip(b"\n").split(b"\n")
    records[0] = records[0].replace(b"e1,", b'"e1,x",', 1)
    records[2] = records[2].removesuffix(b",")
    files["enrollments.csv"] = b"\n".join([header, *records, b""])

    ours, full, oracle = resync_and_full(warehouse, files)

    assert full.outcome == "rejected"
    assert ("file.ragged", 4) in set(full.issues.select("rule", "line").iter_rows())
    assert_same_run(ours, full, warehouse, oracle)
