"""The reader's answers to zips and files as districts' tools make them: a zip whose folders a
Windows tool separated with backslashes, a manifest where it is not read, a control character
in a header name, a compressed file."""

import gzip
import zipfile
import zlib

import pytest

from rosterflow.schemas.csvfile import parse_csv
from rosterflow.schemas.feed import FeedError, open_feed
from tests.feeds import feed_files, tiny_district, write_zip

FILES = feed_files(tiny_district())


def test_a_zip_whose_folders_are_separated_by_backslashes_reads_as_its_folder(tmp_path):
    """Windows PowerShell's Compress-Archive names the members of a zipped folder
    `district\\users.csv`, its folder entry `district\\`: zipfile takes the backslash for a
    separator on Windows only, so elsewhere the feed had no manifest.csv at its root."""
    compressed = tmp_path / "compress-archive.zip"
    with zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("district\\"), b"")
        for name, data in FILES.items():
            archive.writestr(f"district\\{name}", data)
    zipped = open_feed(write_zip(tmp_path / "zipped.zip", {f"district/{n}": d for n, d in FILES.items()}))  # fmt: skip

    feed = open_feed(compressed)

    assert feed.issues.height == 0, feed.issues.to_dicts()
    assert set(feed.files) == set(zipped.files) == set(tiny_district())
    for name in feed.files:
        assert feed.rows(name).equals(zipped.rows(name))


def test_backslashes_and_slashes_naming_one_file_refuse_the_archive(tmp_path):
    feed = write_zip(
        tmp_path / "twice.zip",
        {**{f"district/{n}": d for n, d in FILES.items()}, "district\\users.csv": b"x"},
    )

    with pytest.raises(FeedError, match=r"member 'district/users.csv' appears twice"):
        open_feed(feed)


@pytest.mark.parametrize(
    ("members", "found", "why"),
    [
        ({"Manifest.csv": FILES["manifest.csv"]}, "Manifest.csv", "file names are case-sensitive"),
        ({"export/district/manifest.csv": FILES["manifest.csv"]}, "export/district/manifest.csv",
         "read at its root, or inside one top folder"),
        # a top folder with a file beside it: the folder is not read
        ({"district/manifest.csv": FILES["manifest.csv"], "README.txt": b"nightly export"},
         "district/manifest.csv", "when nothing else is at the root"),
    ],
)  # fmt: skip
def test_a_manifest_where_it_is_not_read_is_named_by_the_error(tmp_path, members, found, why):
    feed = open_feed(write_zip(tmp_path / "feed.zip", members))

    (issue,) = feed.issues.to_dicts()
    assert (issue["file"], issue["rule"], issue["severity"], issue["value"]) == (
        "manifest.csv",
        "manifest.missing",
        "error",
        found,
    )
    assert f"it has {found}: " in issue["message"] and why in issue["message"]


def test_a_feed_without_any_manifest_keeps_its_error(tmp_path):
    feed = open_feed(write_zip(tmp_path / "feed.zip", {"users.csv": FILES["users.csv"]}))

    assert feed.issues.select("value", "rule", "message").rows() == [
        (None, "manifest.missing", "the feed has no manifest.csv at its root")
    ]


def test_the_values_under_a_header_name_with_a_control_character_name_it_shown(tmp_path):
    """Every issue shows a control character as \\xNN: the field of a value's issue too, when
    the header name it is under holds one (a NUL before each line end puts one in the last
    name and in each record's last value)."""
    data = FILES["users.csv"].replace(b"\n", b"\x00\n")

    issues = parse_csv(data, "users.csv").issues.filter(line=2).to_dicts()

    assert [(i["field"], i["value"], i["rule"]) for i in issues] == [
        ("password\\x00", "\\x00", "value.control")
    ]


def test_a_folder_named_with_a_time_of_day_reads_as_the_feed(tmp_path):
    """A colon in a name is a character of it (an export's folder named by its ISO time, as
    Linux saves it): only a drive (`C:`) starting a name points outside the archive."""
    folder = "oneroster 2026-12-06T02:00:00"
    members = {f"{folder}/{n}": d for n, d in FILES.items()} | {f"{folder}/export 02:00.log": b""}

    feed = open_feed(write_zip(tmp_path / "nightly.zip", members))

    assert set(feed.files) == set(tiny_district())
    assert feed.issues.select("file", "rule").rows() == [("export 02:00.log", "file.unknown")]


@pytest.mark.parametrize("member", ["C:evil.csv", "C:\\evil.csv", "d:/evil.csv"])
def test_a_member_on_a_drive_still_refuses_the_archive(tmp_path, member):
    with pytest.raises(FeedError, match="points outside the archive"):
        open_feed(write_zip(tmp_path / "evil.zip", FILES | {member: b"x"}))


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress])
def test_a_compressed_file_is_refused_as_one_never_read_as_its_inflated_lines(tmp_path, compress):
    """Polars' read_csv inflates gzip, zlib and zstd bytes without a word: a `users.csv` that
    is `users.csv.gz` renamed read as the export's own lines (a resync took them for the last
    run's, or applied their changes) where the parse refused the file as not UTF-8."""
    compressed = compress(FILES["users.csv"])
    feed = write_zip(tmp_path / "feed.zip", FILES | {"users.csv": compressed})

    with pytest.raises(FeedError, match=r"users.csv line 1: not a CSV file but a \w+-compressed one"):  # fmt: skip
        open_feed(feed)
    assert open_feed(feed, parse=False).read(lines={}).contents["users"].lines is None


def _header_errors(tmp_path, name: str, edit) -> list[tuple]:
    """The errors of a feed whose file `name` has its bytes edited by `edit`."""
    from rosterflow.schemas.validate import validate_feed

    files = dict(FILES)
    files[name] = edit(files[name])
    result = validate_feed(open_feed(write_zip(tmp_path / "h.zip", files)))
    errors = result.issues.filter(result.issues["severity"] == "error")
    return errors.select("file", "line", "field", "value", "rule", "message").rows()


def test_header_names_written_with_a_space_after_each_comma_say_so(tmp_path):
    """`sourcedId, status, ...`, as a "comma and space" export writes it: every name after the
    first was "not a column of this file", with no hint why."""

    def spaced(data: bytes) -> bytes:
        header, rest = data.split(b"\n", 1)
        return b", ".join(header.split(b",")) + b"\n" + rest

    errors = _header_errors(tmp_path, "orgs.csv", spaced)
    assert (
        "orgs.csv",
        1,
        " status",
        " status",
        "header.unknown",
        "the name has spaces around it: write status",
    ) in errors


def test_a_first_line_of_control_characters_is_shown_escaped(tmp_path):
    errors = _header_errors(
        tmp_path, "orgs.csv", lambda data: b"\x00\x01" + data.split(b"\n", 1)[1]
    )
    assert [(e[4], e[3][:12]) for e in errors if e[4] == "header.missing"] == [
        ("header.missing", "\\u0000\\u0001")
    ]


@pytest.mark.parametrize(
    ("top", "read_in"), [("", "at its root"), ("district/", "in district/")], ids=["root", "top"]
)
def test_a_file_in_a_folder_of_the_feed_is_warned_of_not_left_unsaid(tmp_path, top, read_in):
    """`old/users.csv` beside the files read (last year's, or the file meant to be read) was
    ignored without a word: `valid, 0 warnings`, as if the feed had no such file."""
    members = {f"{top}{name}": data for name, data in FILES.items()}
    members |= {f"{top}old/users.csv": FILES["users.csv"], f"{top}old/a/notes.txt": b"x"}
    members |= {f"{top}.git/HEAD": b"ref: refs/heads/main"}  # (a tool's: not warned of)

    feed = open_feed(write_zip(tmp_path / "feed.zip", members))

    assert feed.issues.select("file", "rule", "severity", "message").rows() == [
        (
            f"{top}{name}",
            "file.unknown",
            "warning",
            f"in a folder of the feed; ignored (a feed's files are read {read_in})",
        )
        for name in ("old/a/notes.txt", "old/users.csv")
    ]
    assert feed.rows("users").equals(
        open_feed(write_zip(tmp_path / "plain.zip", FILES)).rows("users")
    )
