"""`schemas.writer.write_feed`: a folder written again holds the new feed alone."""

from __future__ import annotations

from rosterflow.schemas.v12 import as_v12
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district


def test_a_folder_written_again_loses_the_oneroster_files_the_new_feed_lacks_and_nothing_else(
    tmp_path,
):
    out = tmp_path / "feed"
    write_feed(out, as_v12(tiny_district()), version="1.2")
    assert (out / "roles.csv").exists()
    (out / "notes.csv").write_text("ours")
    (out / "archive").mkdir()
    (out / "archive" / "roles.csv").write_text("an older export, kept aside")

    write_feed(out, {"orgs": tiny_district()["orgs"]})

    assert sorted(p.name for p in out.iterdir()) == [
        "archive",
        "manifest.csv",
        "notes.csv",
        "orgs.csv",
    ]
    assert (out / "notes.csv").read_text() == "ours"
    assert (out / "archive" / "roles.csv").read_text() == "an older export, kept aside"
