"""`schemas.writer.write_feed`: a folder written again holds the new feed alone; a zip's bytes
are those of its frames, whenever it is written."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from rosterflow.schemas.feed import open_feed
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


def test_the_same_frames_written_at_other_times_give_the_same_zip_bytes(tmp_path, monkeypatch):
    """A member dated when it was written would make every zip another feed_sha256."""
    first = write_feed(tmp_path / "first.zip", tiny_district())
    # (a later moment than any a test runs in: the zip's own clock is time.localtime)
    monkeypatch.setattr("time.time", lambda: 2_000_000_000.0)
    second = write_feed(tmp_path / "second.zip", tiny_district())

    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in (first, second)}
    assert len(digests) == 1
    with zipfile.ZipFile(second) as archive:
        members = archive.infolist()
    assert {m.compress_type for m in members} == {zipfile.ZIP_DEFLATED}
    assert {m.external_attr >> 16 for m in members} == {0o600}
    assert open_feed(second).name == "second.zip"


def test_a_zip_write_that_fails_leaves_the_zip_that_was_there_and_nothing_beside_it(
    tmp_path, monkeypatch
):
    """A full disk halfway through: no truncated zip for a sync to read as damaged."""
    out = write_feed(tmp_path / "north.zip", tiny_district())
    before = out.read_bytes()
    written = zipfile.ZipFile.writestr

    def disk_full_at_the_third_member(archive, member, *arguments):
        if len(archive.infolist()) == 2:
            raise OSError(28, "No space left on device")
        written(archive, member, *arguments)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", disk_full_at_the_third_member)
    changed = dict(tiny_district(), orgs=tiny_district()["orgs"].head(2))

    with pytest.raises(OSError, match="No space left"):
        write_feed(out, changed)

    assert out.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["north.zip"]


def test_a_zip_named_over_a_folder_is_refused_and_the_folder_left_empty(tmp_path):
    (tmp_path / "north.zip").mkdir()

    with pytest.raises(IsADirectoryError):
        write_feed(tmp_path / "north.zip", tiny_district())

    assert [path.name for path in tmp_path.iterdir()] == ["north.zip"]
    assert list((tmp_path / "north.zip").iterdir()) == []
