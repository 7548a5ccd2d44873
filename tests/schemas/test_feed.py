import hashlib
import io
import os
import zipfile

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import rosterflow.schemas.feed as feed_module
from rosterflow.schemas.environment import EnvironmentVariableError
from rosterflow.schemas.feed import FeedError, FeedUnreadable, file_sha256, open_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import feed_files, tiny_district, write_zip


def issues_of(feed) -> list[tuple]:
    return feed.issues.select("file", "line", "field", "rule", "severity").rows()


def test_zip_folder_and_zipped_folder_read_alike(tmp_path):
    frames = tiny_district()
    as_zip = open_feed(write_feed(tmp_path / "d.zip", frames))
    as_folder = open_feed(write_feed(tmp_path / "d", frames))
    nested = open_feed(
        write_zip(tmp_path / "n.zip", {f"export/{n}": d for n, d in feed_files(frames).items()})
    )
    for feed in (as_zip, as_folder, nested):
        assert feed.issues.height == 0
        assert set(feed.files) == set(frames)
        assert feed.modes["users"] == "bulk" and feed.modes["results"] == "absent"
        assert feed.rows("users")["sourcedId"].to_list() == frames["users"]["sourcedId"].to_list()


def test_folder_with_one_top_folder(tmp_path):
    write_feed(tmp_path / "outer" / "inner", tiny_district())
    assert set(open_feed(tmp_path / "outer").files) == set(tiny_district())


def test_sha256_identifies_the_content(tmp_path):
    a = open_feed(write_feed(tmp_path / "a.zip", tiny_district()))
    b = open_feed(write_feed(tmp_path / "b.zip", tiny_district()))
    folder_a = open_feed(write_feed(tmp_path / "fa", tiny_district()))
    folder_b = open_feed(write_feed(tmp_path / "fb", tiny_district()))
    assert len(a.sha256) == 64 and folder_a.sha256 == folder_b.sha256
    changed = tiny_district()
    changed["orgs"] = changed["orgs"].head(3)
    assert open_feed(write_feed(tmp_path / "c", changed)).sha256 != folder_a.sha256
    assert a.name == "a.zip" and b.default_tenant() == "b"


def test_a_zip_feed_is_known_by_its_file_s_sha256(tmp_path):
    # the inbox looks an arriving zip up by file_sha256, among the Feed.sha256 syncs recorded
    path = write_feed(tmp_path / "d.zip", tiny_district())
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == expected
    assert open_feed(path).sha256 == expected


@pytest.mark.parametrize(
    "member", ["../evil.csv", "/etc/passwd", "C:/evil.csv", "a/../../evil.csv"]
)
def test_unsafe_member_names_refuse_the_archive(tmp_path, member):
    files = feed_files(tiny_district()) | {member: b"x"}
    with pytest.raises(FeedError, match="points outside the archive"):
        open_feed(write_zip(tmp_path / "evil.zip", files))


def test_zip_bomb_ratio_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ROSTERFLOW_MAX_COMPRESSION_RATIO", "100")
    files = feed_files(tiny_district()) | {"users.csv": b"0" * (4 * 1024**2)}
    with pytest.raises(FeedError, match="possible zip bomb"):
        open_feed(write_zip(tmp_path / "bomb.zip", files))


def test_zip_bomb_total_size_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ROSTERFLOW_MAX_FEED_BYTES", "1000")
    with pytest.raises(FeedError, match="unpacks to more than 1,000 bytes"):
        open_feed(write_feed(tmp_path / "big.zip", tiny_district()))


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ROSTERFLOW_MAX_FEED_BYTES", "abc"), ("ROSTERFLOW_MAX_COMPRESSION_RATIO", "-5")],
)
def test_a_zip_bomb_limit_that_is_no_positive_number_is_refused_naming_it(
    tmp_path, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(EnvironmentVariableError, match=f"^{variable}='{value}': give a positive"):
        open_feed(write_feed(tmp_path / "d.zip", tiny_district()))


def test_damaged_zip_and_missing_path_are_unreadable(tmp_path):
    good = write_feed(tmp_path / "good.zip", tiny_district()).read_bytes()
    (tmp_path / "cut.zip").write_bytes(good[: len(good) // 2])
    with pytest.raises(FeedError):
        open_feed(tmp_path / "cut.zip")
    with pytest.raises(FeedError, match="no such file or folder"):
        open_feed(tmp_path / "nope.zip")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FeedError, match="not a zip archive"):
        open_feed(tmp_path / "notes.txt")


def test_corrupt_member_is_unreadable(tmp_path):
    path = write_feed(tmp_path / "d.zip", tiny_district())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("users.csv")
    start = info.header_offset + 30 + len(info.filename) + 5
    data[start : start + 20] = b"\x00" * 20  # damage the compressed bytes of users.csv
    path.write_bytes(bytes(data))
    with pytest.raises(FeedError, match=r"users\.csv"):
        open_feed(path)


def test_missing_manifest_is_an_error(tmp_path):
    files = feed_files(tiny_district())
    del files["manifest.csv"]
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    assert issues_of(feed) == [("manifest.csv", None, None, "manifest.missing", "error")]


def test_file_marked_bulk_but_missing_names_the_manifest_line(tmp_path):
    files = feed_files(tiny_district())
    del files["users.csv"]
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    manifest_line = 3 + sorted(feed_module.FILE_SPECS).index("users") + 1
    assert (
        "manifest.csv",
        manifest_line,
        "file.users",
        "manifest.file_missing",
        "error",
    ) in issues_of(feed)


def test_present_file_marked_absent_is_ignored_with_a_warning(tmp_path):
    feed = open_feed(
        write_zip(tmp_path / "m.zip", feed_files(tiny_district(), {"courses": "absent"}))
    )
    assert "courses" not in feed.files
    assert ("courses.csv", None, None, "file.ignored", "warning") in issues_of(feed)


def test_a_present_file_of_a_mode_that_is_no_mode_is_its_error_alone(tmp_path):
    files = feed_files(tiny_district())
    files["manifest.csv"] = files["manifest.csv"].replace(b"file.users,bulk", b"file.users,full")
    issues = issues_of(open_feed(write_zip(tmp_path / "m.zip", files)))
    assert [issue[3] for issue in issues if issue[3].startswith(("manifest.", "file."))] == [
        "manifest.mode"
    ]


@pytest.mark.parametrize("stated", ["1.3", "2.0", "1.0"])
def test_manifest_values_are_trimmed_and_versions_checked(tmp_path, stated):
    files = feed_files(tiny_district())
    manifest = files["manifest.csv"].decode()
    manifest = manifest.replace("file.users,bulk", 'file.users, "bulk" ').replace(
        "oneroster.version,1.1", f"oneroster.version,{stated}"
    )
    files["manifest.csv"] = manifest.encode()
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    # a version rosterflow does not read: no file is read as another version's, and the
    # version is the one issue (not every header and file name judged against 1.1's)
    assert set(feed.modes.values()) == {"absent"} and feed.files == {}
    assert feed.issues.select("line", "value", "rule", "severity").rows() == [
        (3, stated, "manifest.version", "error")
    ]
    assert f"reads OneRoster 1.1 and 1.2; the manifest says {stated}" in feed.issues["message"][0]


def test_a_manifest_that_names_no_version_has_its_files_read_as_1_1(tmp_path):
    files = feed_files(tiny_district())
    files["manifest.csv"] = files["manifest.csv"].replace(b"oneroster.version,1.1\n", b"")
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    assert feed.version == "1.1" and feed.modes["users"] == "bulk"
    assert feed.issues.filter(pl.col("rule") == "manifest.version").height == 1


def test_a_1_2_manifest_reads_the_feed_as_1_2(tmp_path):
    files = feed_files(tiny_district())
    files["manifest.csv"] = files["manifest.csv"].replace(
        b"oneroster.version,1.1", b"oneroster.version,1.2"
    )
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    assert feed.version == "1.2"
    assert not feed.issues.filter(pl.col("rule") == "manifest.version").height
    # the 1.2 manifest rows the 1.1 manifest lacks are warned about, and read as absent
    missing = feed.issues.filter(pl.col("rule") == "manifest.file_row")["field"].to_list()
    assert "file.roles" in missing and "file.userProfiles" in missing


def test_unknown_and_wrong_case_file_names_are_warned(tmp_path):
    files = feed_files(tiny_district())
    files = files | {"Users.csv": b"x", "notes.txt": b"y", "Courses.CSV": files.pop("courses.csv")}
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    unknown = feed.issues.filter(pl.col("rule") == "file.unknown")
    assert unknown.select("file", "message").rows() == [
        (
            "Courses.CSV",
            "not a OneRoster 1.1 file; ignored; file names are case-sensitive (did you mean "
            "courses.csv?)",
        ),
        # users.csv is there: a "did you mean" sent the district to rename this one over it
        (
            "Users.csv",
            "ignored: file names are case-sensitive, and users.csv beside it is the one read",
        ),
        ("notes.txt", "not a OneRoster 1.1 file; ignored"),
    ]


def test_a_wrong_case_copy_of_a_file_marked_absent_says_it_is_ignored_too(tmp_path):
    files = feed_files(tiny_district()) | {"Users.csv": b"x"}
    files["manifest.csv"] = files["manifest.csv"].replace(b"file.users,bulk", b"file.users,absent")
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    unknown = feed.issues.filter(pl.col("rule") == "file.unknown")
    assert unknown.select("file", "message").rows() == [
        (
            "Users.csv",
            "ignored: file names are case-sensitive, and users.csv beside it is that file, "
            "which the manifest leaves absent",
        )
    ]


def test_system_code_names_the_default_tenant(tmp_path):
    path = write_feed(
        tmp_path / "x.zip", tiny_district(), properties={"source.systemCode": "district-7"}
    )
    assert open_feed(path).default_tenant() == "district-7"
    placeholder = write_feed(
        tmp_path / "y.zip", tiny_district(), properties={"source.systemCode": "absent"}
    )
    assert open_feed(placeholder).default_tenant() == "y"
    damaged = write_feed(
        tmp_path / "z.zip", tiny_district(), properties={"source.systemCode": "demo\x00-1"}
    )
    assert open_feed(damaged).default_tenant() == "z"


@pytest.mark.parametrize(
    ("edit", "line", "field", "rule", "severity"),
    [
        (lambda m: m + "file.users,bulk\n", 17, "file.users", "manifest.duplicate", "error"),
        (
            lambda m: m.replace("file.orgs,bulk", "file.orgs,full"),
            13,
            "file.orgs",
            "manifest.mode",
            "error",
        ),
        (
            lambda m: m.replace("file.orgs,bulk", "file.orgs,Bulk"),
            13,
            "file.orgs",
            "manifest.case",
            "warning",
        ),
        (lambda m: m + "file.roles,bulk\n", 17, "file.roles", "manifest.unknown_file", "warning"),
        (
            lambda m: m.replace("file.results,absent\n", ""),
            None,
            "file.results",
            "manifest.file_row",
            "warning",
        ),
        (
            lambda m: m.replace("manifest.version,1.0", "manifest.version,2.0"),
            2,
            "manifest.version",
            "manifest.version",
            "warning",
        ),
        (
            lambda m: m.replace("propertyName,value", "name,value"),
            1,
            None,
            "manifest.header",
            "error",
        ),
    ],
)
def test_manifest_rules(tmp_path, edit, line, field, rule, severity):
    files = feed_files(tiny_district())
    files["manifest.csv"] = edit(files["manifest.csv"].decode()).encode()
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    assert ("manifest.csv", line, field, rule, severity) in issues_of(feed), feed.issues


@pytest.mark.parametrize(
    ("stated", "known"),
    [("File.users", "file.users"), ("Source.SystemCode", "source.systemCode")],
)
def test_a_manifest_property_in_other_letters_is_read_as_its_own(tmp_path, stated, known):
    """`File.users,bulk` made users.csv absent, its records kept, with warnings about other
    things: it is read as `file.users`, as a mode `Bulk` is read as `bulk`."""
    files = feed_files(tiny_district())
    manifest = files["manifest.csv"].decode()
    if known.startswith("source."):
        manifest += f"{known},district-7\n"
    files["manifest.csv"] = manifest.replace(known, stated).encode()

    feed = open_feed(write_zip(tmp_path / "m.zip", files))

    (line,) = [
        n for n, row in enumerate(files["manifest.csv"].splitlines(), 1) if stated.encode() in row
    ]
    assert issues_of(feed) == [("manifest.csv", line, stated, "manifest.case", "warning")]
    assert feed.manifest[known] == ("bulk" if known == "file.users" else "district-7")
    if known == "file.users":
        assert feed.modes["users"] == "bulk"
    else:
        assert feed.default_tenant() == "district-7"


def test_a_oneroster_12_file_in_a_1_1_feed_is_refused_with_a_reason(tmp_path):
    feed = open_feed(
        write_zip(tmp_path / "m.zip", feed_files(tiny_district()) | {"roles.csv": b"x"})
    )
    assert ("roles.csv", None, None, "file.version", "error") in issues_of(feed)
    message = feed.issues.filter(pl.col("rule") == "file.version")["message"][0]
    assert "manifest says OneRoster 1.1" in message and "oneroster.version 1.2" in message


def test_a_manifest_that_states_no_version_is_not_said_to_say_1_1(tmp_path):
    """The feed is read as 1.1 for what follows its `manifest.version` error, whose message
    says the manifest states nothing: the others said it said 1.1."""
    files = feed_files(tiny_district())
    manifest = b"\n".join(
        line for line in files["manifest.csv"].split(b"\n") if b"oneroster.version" not in line
    )
    feed = open_feed(
        write_zip(tmp_path / "m.zip", files | {"manifest.csv": manifest, "roles.csv": b"x"})
    )

    message = feed.issues.filter(pl.col("rule") == "file.version")["message"][0]
    assert message.startswith("a OneRoster 1.2 file in a feed read as OneRoster 1.1, its manifest")


# --- a feed's encoding, and its manifest read like its other files (issue 30) ----------------


def encoded(files: dict[str, bytes], encoding: str) -> dict[str, bytes]:
    return {name: data.decode().encode(encoding) for name, data in files.items()}


def with_names(frames):
    """`frames` with names no ASCII file could hold."""
    users = frames["users"].with_columns(
        pl.Series(
            "givenName",
            ["Zoë", "Łukasz", "Renée", "Jürgen", "Šárka", "Ana"][: frames["users"].height],
        )
    )
    return frames | {"users": users}


@pytest.mark.parametrize("encoding", ["cp1250", "utf-16"])
def test_a_feed_in_a_named_encoding_reads_as_its_utf8_export_does(tmp_path, encoding):
    files = feed_files(with_names(tiny_district()))
    utf8 = open_feed(write_zip(tmp_path / "utf8.zip", files))
    path = write_zip(tmp_path / "other.zip", encoded(files, encoding))
    other = open_feed(path, encoding=encoding)
    assert other.manifest == utf8.manifest and other.issues.height == 0
    for name, parsed in utf8.files.items():
        assert_frame_equal(other.files[name].rows, parsed.rows)
    # the sync's way: the bytes first, parsed when the run validates
    later = open_feed(path, parse=False, encoding=encoding).parse()
    assert_frame_equal(later.rows("users"), utf8.rows("users"))
    with pytest.raises(FeedError, match="not UTF-8"):
        open_feed(path)


def test_the_same_bytes_in_another_encoding_are_other_contents(tmp_path):
    path = write_zip(tmp_path / "d.zip", encoded(feed_files(with_names(tiny_district())), "cp1250"))
    # Windows' and ISO's Central European encodings: the same letters at other bytes
    windows, iso = open_feed(path, encoding="cp1250"), open_feed(path, encoding="iso8859-2")
    assert windows.rows("users")["givenName"].to_list() != iso.rows("users")["givenName"].to_list()
    assert windows.sha256 == iso.sha256  # the zip's own identity: its bytes
    assert windows.content_sha256 != iso.content_sha256
    assert windows.files["users"].fingerprint != iso.files["users"].fingerprint
    plain = write_zip(tmp_path / "p.zip", feed_files(tiny_district()))
    utf8, spelled = open_feed(plain), open_feed(plain, encoding="UTF8")
    assert utf8.content_sha256 == spelled.content_sha256  # as every earlier run stored it
    assert utf8.files["users"].fingerprint == spelled.files["users"].fingerprint


def test_a_manifest_not_in_utf8_is_the_one_line_unreadable_feed_error(tmp_path):
    files = feed_files(tiny_district())
    files["manifest.csv"] = files["manifest.csv"].replace(b"bulk", b"bu\xffk", 1)
    with pytest.raises(FeedError) as refused:
        open_feed(write_zip(tmp_path / "m.zip", files))
    assert str(refused.value).startswith("m.zip: manifest.csv line ")
    assert "not UTF-8 (byte 0xff" in str(refused.value) and "\n" not in str(refused.value)


def test_a_tab_separated_manifest_is_one_error_and_reads_no_file(tmp_path):
    files = feed_files(tiny_district())
    files["manifest.csv"] = files["manifest.csv"].replace(b",", b"\t")
    feed = open_feed(write_zip(tmp_path / "m.zip", files))
    errors = feed.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "value", "rule").rows() == [
        ("manifest.csv", 1, "\\t", "file.separator")
    ]
    assert feed.files == {}


# --- reading before parsing: a sync parses a file as it is read, unless it may be recalled -----


def parsed_names(monkeypatch) -> list[str]:
    """The files `_parse_file` parses from now on, in the order it parses them."""
    parsed, parse = [], feed_module._parse_file

    def counted(feed_name, spec, *rest):
        parsed.append(spec.name)
        return parse(feed_name, spec, *rest)

    monkeypatch.setattr(feed_module, "_parse_file", counted)
    return parsed


def test_a_file_is_parsed_as_it_is_read_unless_its_bytes_are_the_ones_named(tmp_path, monkeypatch):
    path = write_feed(tmp_path / "d.zip", tiny_district())
    whole = open_feed(path)
    parsed = parsed_names(monkeypatch)

    feed = open_feed(path, parse=False)
    assert parsed == []  # opening reads the manifest and lists the files
    known = {"users": whole.contents["users"].fingerprint, "orgs": "blake3:other bytes"}
    feed.read(parse_unless=known)
    assert feed.content_sha256 == whole.content_sha256  # every file's bytes in and hashed
    assert set(feed._reading.parsed()) == set(whole.files) - {"users"}  # parsed as read
    assert sorted(parsed) == sorted(name for name in whole.files if name != "users")
    feed.parse()
    assert sorted(parsed) == sorted(whole.files)  # each file parsed once, users last
    assert parsed[-1] == "users"
    assert feed.content_sha256 == whole.content_sha256
    for name, file in whole.files.items():
        assert_frame_equal(feed.rows(name), file.rows)
        assert feed.files[name].fingerprint == file.fingerprint

    unread = open_feed(path, parse=False)
    assert unread.content_sha256 == whole.content_sha256 and len(parsed) == len(whole.files)


def test_a_file_that_does_not_parse_is_refused_as_if_parsed_after_every_file_was_read(tmp_path):
    files = feed_files(tiny_district())
    for name in ("orgs.csv", "users.csv"):  # orgs comes first in the manifest
        files[name] = files[name].replace(b"\n", b"\n\xff", 1)
    path = write_zip(tmp_path / "d.zip", files)
    with pytest.raises(FeedError, match=r"orgs\.csv.*not UTF-8") as whole:
        open_feed(path)
    bytes_of = open_feed(path, parse=False).contents
    # users.csv parsed as it is read, orgs.csv after; then the other way round
    users_first = open_feed(path, parse=False).read({"orgs": bytes_of["orgs"].fingerprint})
    orgs_first = open_feed(path, parse=False).read({"users": bytes_of["users"].fingerprint})
    for feed in (users_first, orgs_first):
        with pytest.raises(FeedError) as later:
            feed.parse()
        assert str(later.value) == str(whole.value)


@pytest.mark.parametrize("parse_unless", [None, {}], ids=["unparsed", "parsed as read"])
def test_a_file_whose_hash_fails_raises_its_error_and_nothing_waits_forever(
    tmp_path, monkeypatch, parse_unless
):
    path = write_feed(tmp_path / "d.zip", tiny_district())

    def no_hash(data: bytes) -> str:
        raise MemoryError("no room to hash")

    monkeypatch.setattr(feed_module, "_digest", no_hash)
    feed = open_feed(path, parse=False).read(parse_unless)
    with pytest.raises(MemoryError, match="no room to hash"):
        feed.parse()


def test_a_reading_thread_that_fails_is_an_error_not_a_wait(tmp_path, monkeypatch):
    """Whatever a file's reading thread raises once the bytes are in reaches whoever waits for
    the file (here, taking the line summary): the feed is never waited on for ever."""
    import threading

    from rosterflow.schemas.lines import LineSummary

    path = write_feed(tmp_path / "d.zip", tiny_district())
    users_lines = feed_files(tiny_district())["users.csv"].count(b"\n")

    def broken(_hashes):
        raise RuntimeError("a summary that cannot be taken")

    monkeypatch.setattr(feed_module, "summary", broken)
    feed = open_feed(path, parse=False)
    feed.read(parse_unless={}, lines={"users.csv": LineSummary(users_lines, 0, 0, 0)})
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            feed.contents  # noqa: B018
        except BaseException as error:
            raised.append(error)

    # a daemon thread: were the feed waited on for ever, the test fails and still ends
    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    waiting.join(timeout=60)
    assert [str(error) for error in raised] == ["a summary that cannot be taken"]


def encrypted(path, member: str):
    """The zip at `path` with `member` flagged encrypted in its local and central headers, as
    a zip made with a password marks it."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(member)
    data[info.header_offset + 6] |= 1  # the local header's flags
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(member)] != member.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 8] |= 1  # the central directory entry's flags
    path.write_bytes(bytes(data))
    return path


def test_an_encrypted_member_is_refused_in_words(tmp_path):
    path = encrypted(write_feed(tmp_path / "d.zip", tiny_district()), "users.csv")
    with pytest.raises(FeedError) as refused:
        open_feed(path)
    assert str(refused.value) == (
        f"{path}: member 'users.csv' is encrypted; export the feed without a password"
    )


def test_a_file_or_folder_that_cannot_be_read_is_the_one_line_feed_error(tmp_path, monkeypatch):
    """Its permissions, say (the commands' tests run as a user they bind: tests/flows/
    test_cli_unreadable.py): the path and the file system's reason, never another error."""
    feed = write_feed(tmp_path / "north", tiny_district())
    denied = PermissionError(13, "Permission denied")
    real_read, real_scandir = type(feed).read_bytes, os.scandir

    def read_bytes(path):
        if path.name == "users.csv":
            raise denied
        return real_read(path)

    monkeypatch.setattr(type(feed), "read_bytes", read_bytes)
    with pytest.raises(FeedUnreadable) as member:
        open_feed(feed)
    assert str(member.value) == f"{feed / 'users.csv'}: cannot be read (Permission denied)"

    def scandir(path="."):
        if os.fspath(path) == str(feed):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(FeedUnreadable) as folder:
        open_feed(feed)
    assert str(folder.value) == f"{feed}: cannot be read (Permission denied)"


def test_an_io_error_reading_a_file_stays_itself_to_be_retried(tmp_path, monkeypatch):
    """A share dropping out may be back in a moment: a sync in Prefect reads the feed again on
    an OSError (`flows.sync.worth_retrying`), never on a FeedError."""
    feed = write_feed(tmp_path / "north", tiny_district())
    real_read = type(feed).read_bytes

    def read_bytes(path):
        if path.name == "users.csv":
            raise OSError(5, "Input/output error")
        return real_read(path)

    monkeypatch.setattr(type(feed), "read_bytes", read_bytes)
    with pytest.raises(OSError, match="Input/output error") as raised:
        open_feed(feed)
    assert not isinstance(raised.value, FeedError)


def test_names_that_are_not_utf8_are_named_by_their_bytes(tmp_path):
    """A byte of a name that is not UTF-8 (Python holds it as a surrogate, which neither DuckDB
    nor a terminal takes) as \\xNN, in the feed's name and in its issues."""
    folder = write_feed(tmp_path / os.fsdecode(b"north\xff"), tiny_district())
    (folder / os.fsdecode(b"notes\xe9.csv")).write_text("x")

    feed = open_feed(folder)

    assert feed.name == "north\\xff"
    assert feed.issues.filter(pl.col("rule") == "file.unknown")["file"].to_list() == [
        "notes\\xe9.csv"
    ]
