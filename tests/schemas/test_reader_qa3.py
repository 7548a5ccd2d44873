"""The reader's answers to feeds a district's tools and people make: one-byte text under
`[feed] encoding = "utf-16"`, a manifest holding characters a screen does not show, a zip
naming one file by two paths, a feed folder whose users.csv is a symbolic link to nothing."""

import os
import zipfile

import pytest

from rosterflow.schemas.csvfile import UnreadableFile, parse_csv
from rosterflow.schemas.feed import FeedError, FeedUnreadable, open_feed
from tests.feeds import feed_files, tiny_district, write_zip

FILES = feed_files(tiny_district())


# --- one-byte text read as UTF-16 or UTF-32 ----------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "UTF-16BE", "utf-32"])
@pytest.mark.parametrize(
    ("data", "said"),
    [
        # of an even size: each pair of bytes read as a letter of another script
        (b"sourcedId,name\nu1,Ann\n", "its bytes are UTF-8: take the setting out"),
        # of an odd size: refused at its last byte, on line 1 (no LF is read as one)
        (b"sourcedId,name\nu1,Anna\n", "its bytes are UTF-8: take the setting out"),
        ("sourcedId,name\nu1,Renée\n".encode("cp1252"), "it is text of one byte a character"),
    ],
    ids=["utf-8 even", "utf-8 odd", "cp1252"],
)
def test_one_byte_text_named_utf16_or_utf32_is_refused_as_not_in_that_encoding(
    data, said, encoding
):
    """A SIS that turned to UTF-8 since the settings named UTF-16: the header read as
    `牯牵散䥤...`, every name an error that named letters of another script, or (an odd size)
    the file refused for a byte 0x0a at its end "on line 1"."""
    with pytest.raises(UnreadableFile) as refused:
        parse_csv(data, "users.csv", encoding)

    assert str(refused.value) == (
        f"users.csv line 1: not {encoding} (no NUL among its first bytes, where "
        f"{encoding.upper()} text has one beside each ASCII letter); the file is not valid "
        f"{encoding}: check [feed] encoding, which must name the encoding the SIS saved it in "
        f"({said})"
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_text_without_a_mark_still_reads(encoding):
    text = "sourcedId,name\nu1,Zoë\nu2,田中\n"
    data = text.encode(encoding if encoding != "utf-16" else "utf-16-be")

    parsed = parse_csv(data, "users.csv", encoding)

    assert parsed.rows["name"].to_list() == ["Zoë", "田中"]


def test_a_utf8_manifest_of_a_feed_named_utf16_refuses_the_feed_naming_it(tmp_path):
    """Its files exported as UTF-16, the manifest written apart in ASCII: the manifest read as
    UTF-16 was one header name of letters of other scripts (`manifest.header`)."""
    files = {name: data.decode().encode("utf-16") for name, data in FILES.items()}
    files["manifest.csv"] = FILES["manifest.csv"]

    with pytest.raises(FeedError) as refused:
        open_feed(write_zip(tmp_path / "feed.zip", files), encoding="utf-16")

    assert str(refused.value).startswith("feed.zip: manifest.csv line 1: not utf-16 (no NUL ")
    assert str(refused.value).endswith("(its bytes are UTF-8: take the setting out)")


# --- a manifest holding characters a screen does not show --------------------------------------


@pytest.mark.parametrize(
    ("stated", "field", "value", "shown"),
    [
        # a name copied from a web page, with a zero-width space: users.csv was read as absent
        ("file.users\u200b,bulk", "file.users\\u200b", "bulk", "file.users\\u200b"),
        # each line of the manifest written with a byte-order mark
        ("\ufefffile.users,bulk", "\\ufefffile.users", "bulk", "\\ufefffile.users"),
        # a mode that was an error saying it must be bulk, delta or absent, showing `bulk`
        ("file.users,bulk\u200b", "file.users", "bulk\\u200b", "bulk\\u200b"),
    ],
    ids=["name", "name with a mark", "mode"],
)
def test_a_manifest_property_holding_an_invisible_character_is_read_as_the_one_it_shows(
    tmp_path, stated, field, value, shown
):
    files = dict(FILES)
    files["manifest.csv"] = FILES["manifest.csv"].replace(b"file.users,bulk", stated.encode())
    assert files["manifest.csv"] != FILES["manifest.csv"]

    feed = open_feed(write_zip(tmp_path / "feed.zip", files))

    assert feed.modes["users"] == "bulk"
    assert feed.rows("users").equals(open_feed(write_zip(tmp_path / "f.zip", FILES)).rows("users"))
    assert feed.issues.select("file", "line", "field", "value", "rule", "severity").rows() == [
        ("manifest.csv", 16, field, value, "manifest.invisible", "warning")
    ]
    assert feed.issues["message"][0].startswith(f"'{shown}' holds a character a screen does not")


def test_a_version_holding_an_invisible_character_reads_the_feed_as_that_version(tmp_path):
    files = dict(FILES)
    files["manifest.csv"] = FILES["manifest.csv"].replace(
        b"oneroster.version,1.1", "oneroster.version,1.1\u200b".encode()
    )

    feed = open_feed(write_zip(tmp_path / "feed.zip", files))

    assert feed.version == "1.1" and set(feed.files) == set(tiny_district())
    assert feed.issues.select("line", "value", "rule").rows() == [
        (3, "1.1\\u200b", "manifest.invisible")
    ]


def test_an_unknown_property_is_named_with_its_invisible_characters_shown(tmp_path):
    files = dict(FILES)
    files["manifest.csv"] = FILES["manifest.csv"] + "file.grades\u200b,bulk\n".encode()

    feed = open_feed(write_zip(tmp_path / "feed.zip", files))

    assert feed.issues.select("field", "rule", "message").rows() == [
        (
            "file.grades\\u200b",
            "manifest.unknown_file",
            "file.grades\\u200b is not a OneRoster 1.1 file; ignored",
        )
    ]


# --- a feed's zip zipped again -----------------------------------------------------------------


def test_a_zip_of_the_feed_s_zip_names_the_zip_inside(tmp_path):
    """A district zips its export's zip again (or sends the folder it is in): the error said
    the feed had no manifest.csv, as if the export had none."""
    inner = write_zip(tmp_path / "district.zip", FILES).read_bytes()
    outer = write_zip(tmp_path / "upload.zip", {"district.zip": inner, "notes.txt": b"week 3"})
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "district.zip").write_bytes(inner)

    for feed in (open_feed(outer), open_feed(folder)):
        assert feed.issues.select("file", "value", "rule", "severity").rows() == [
            ("manifest.csv", "district.zip", "manifest.missing", "error")
        ]
        assert feed.issues["message"][0] == (
            "the feed has no manifest.csv at its root; it has district.zip: a feed is the zip "
            "that holds manifest.csv, never read from a zip inside it (give that zip itself)"
        )


# --- a zip naming one file twice ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "again", "named"),
    [
        ("district/", "district/./users.csv", "district/users.csv"),
        ("district/", "district//users.csv", "district/users.csv"),
        ("", ".//users.csv", "users.csv"),
    ],
)
def test_a_member_naming_a_file_of_the_feed_by_another_path_refuses_the_archive(
    tmp_path, top, again, named
):
    """unzip writes `district/./users.csv` to `district/users.csv`, over the member of that name
    (or asks which to keep): the reader read the last of the two, a users.csv that another
    tool did not read, without a word (`.//users.csv` beside `users.csv`: the first)."""
    members = {top + name: data for name, data in FILES.items()}
    members[again] = FILES["users.csv"].replace(b"Sam", b"Samuel")
    path = write_zip(tmp_path / "feed.zip", members)

    with pytest.raises(FeedError) as refused:
        open_feed(path)

    assert str(refused.value) == f"{path}: member {named!r} appears twice; refusing the archive"


def test_members_named_through_dot_folders_alone_are_the_feed_s_files(tmp_path):
    members = {f"district/./{name}": data for name, data in FILES.items()}
    members["district//"] = b""  # (a folder's entry, named as some tools name it)

    feed = open_feed(write_zip(tmp_path / "feed.zip", members))

    assert feed.issues.height == 0
    assert feed.rows("users").equals(open_feed(write_zip(tmp_path / "f.zip", FILES)).rows("users"))


# --- a feed folder whose files are links to nothing, or no files ------------------------------


def folder_feed(folder, files=FILES):
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda users: users.symlink_to("/nonexistent/users.csv"),
         "a symbolic link to /nonexistent/users.csv, which does not exist"),
        (lambda users: users.symlink_to("users.csv"),
         "a symbolic link to users.csv, which leads back to itself"),
        (lambda users: os.mkfifo(users), "not a file but a named pipe, a socket or a device"),
        (lambda users: (users.mkdir(), (users / "users.csv").write_bytes(FILES["users.csv"])),
         "not a file but a folder"),
        (lambda users: (users.with_name("export").mkdir(), users.symlink_to("export")),
         "a symbolic link to export, which is not a file"),
    ],
    ids=["dangling link", "link in a loop", "named pipe", "folder", "link to a folder"],
)  # fmt: skip
def test_a_users_csv_that_is_no_file_refuses_the_feed_saying_what_it_is(tmp_path, make, why):
    """`ls` lists users.csv, and the feed was read as having none: `manifest.file_missing`,
    "the feed has no such file"."""
    folder = folder_feed(tmp_path / "feed", {n: d for n, d in FILES.items() if n != "users.csv"})
    make(folder / "users.csv")

    with pytest.raises(FeedUnreadable) as refused:
        open_feed(folder)

    assert str(refused.value) == f"{folder / 'users.csv'}: cannot be read ({why})"


def test_a_folder_named_users_csv_in_a_zip_refuses_the_feed_saying_what_it_is(tmp_path):
    """A folder entry was skipped: the feed had no users.csv (exit 1, "no such file")."""
    path = write_zip(tmp_path / "feed.zip", {n: d for n, d in FILES.items() if n != "users.csv"})
    with zipfile.ZipFile(path, "a") as archive:
        archive.mkdir("users.csv")

    with pytest.raises(FeedUnreadable) as refused:
        open_feed(path)

    assert (
        str(refused.value) == f"{path}: member 'users.csv/': cannot be read (a folder, not a file)"
    )


def test_an_entry_that_is_no_file_and_no_file_of_the_feed_is_only_named(tmp_path):
    folder = folder_feed(tmp_path / "feed")
    (folder / "notes.txt").symlink_to("/nonexistent/notes.txt")
    (folder / "classResources.csv").symlink_to("/nonexistent/classResources.csv")  # absent

    feed = open_feed(folder)

    assert feed.issues.select("file", "rule").rows() == [
        ("classResources.csv", "file.ignored"),
        ("notes.txt", "file.unknown"),
    ]
    assert feed.sha256 == open_feed(folder_feed(tmp_path / "plain")).sha256


def test_a_named_pipe_given_as_the_feed_is_refused_not_waited_on(tmp_path):
    """Opened, a named pipe no one writes to blocks for ever: `validate` never answered."""
    pipe = tmp_path / "feed.zip"
    os.mkfifo(pipe)
    # a writer held open (as read and write, which does not block): the reader's open then
    # returns rather than waits, so that a reader that opens the pipe fails this test, not
    # hangs it
    writer = os.open(pipe, os.O_RDWR)

    try:
        with pytest.raises(FeedError) as refused:
            open_feed(pipe)
    finally:
        os.close(writer)

    assert str(refused.value) == (
        f"{pipe}: not a zip archive or a folder but a named pipe, a socket or a device (a feed "
        "is a OneRoster .zip)"
    )
