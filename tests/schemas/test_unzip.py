import io
import struct
import zipfile
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.feed import FeedError, open_feed
from rosterflow.schemas.unzip import fast_read, member_ends
from tests.feeds import feed_files, tiny_district, write_zip

USERS = feed_files(tiny_district())["users.csv"] * 50  # big enough to deflate into blocks


def zip_bytes(files: dict[str, bytes], compression=zipfile.ZIP_DEFLATED, **options) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            with archive.open(info, "w", **options) as member:
                member.write(data)
    return buffer.getvalue()


class _Unseekable(io.RawIOBase):
    """An output zipfile cannot seek back in, so it writes data descriptors."""

    def __init__(self):
        self.buffer = io.BytesIO()

    def writable(self):
        return True

    def write(self, data):
        return self.buffer.write(data)


def data_descriptor_zip(files: dict[str, bytes]) -> bytes:
    out = _Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.buffer.getvalue()


def read_fast(path: Path, name: str) -> bytes | None:
    with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        info = archive.getinfo(name)
        return fast_read(handle.fileno(), info, member_ends(archive).get(info.header_offset))


def read_zipfile(path: Path, name: str) -> bytes | str:
    """What zipfile reads, or the text of its error."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)
    except Exception as error:
        return str(error)


def central_entry(data: bytes, name: str) -> int:
    """The offset of a member's central directory record."""
    offset = data.find(b"PK\x01\x02")
    while offset >= 0:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if data[offset + 46 : offset + 46 + name_length] == name.encode():
            return offset
        offset = data.find(b"PK\x01\x02", offset + 4)
    raise KeyError(name)


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    patched = bytearray(data)
    struct.pack_into(fmt, patched, offset, value)
    return bytes(patched)


@pytest.mark.parametrize(
    "make",
    [
        lambda files: zip_bytes(files),
        lambda files: zip_bytes(files, zipfile.ZIP_STORED),
        lambda files: zip_bytes(files, force_zip64=True),
        data_descriptor_zip,
    ],
    ids=["deflated", "stored", "zip64", "data descriptor"],
)
def test_fast_read_reads_what_zipfile_reads(tmp_path, make):
    path = tmp_path / "f.zip"
    path.write_bytes(make({"a.csv": USERS, "empty.csv": b"", "b.csv": b"x,y\n"}))
    for name in ("a.csv", "empty.csv", "b.csv"):
        assert read_fast(path, name) == read_zipfile(path, name)


def test_data_descriptor_zip_really_has_data_descriptors(tmp_path):
    data = data_descriptor_zip({"a.csv": USERS})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("a.csv").flag_bits & 0x08


def test_other_compression_methods_are_left_to_zipfile(tmp_path):
    path = tmp_path / "b.zip"
    path.write_bytes(zip_bytes({"a.csv": USERS}, zipfile.ZIP_BZIP2))
    assert read_fast(path, "a.csv") is None
    assert read_zipfile(path, "a.csv") == USERS


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_crc_mismatch_fails_as_zipfile_does(tmp_path, compression):
    data = zip_bytes({"a.csv": USERS}, compression)
    crc = struct.unpack_from("<I", data, central_entry(data, "a.csv") + 16)[0]
    path = tmp_path / "c.zip"
    path.write_bytes(patch(data, central_entry(data, "a.csv") + 16, "<I", crc ^ 1))
    assert read_fast(path, "a.csv") is None
    assert read_zipfile(path, "a.csv") == "Bad CRC-32 for file 'a.csv'"


def test_a_member_longer_than_stated_is_not_inflated_past_its_size(tmp_path):
    data = zip_bytes({"a.csv": USERS})
    path = tmp_path / "l.zip"
    path.write_bytes(patch(data, central_entry(data, "a.csv") + 24, "<I", 100))
    assert read_fast(path, "a.csv") is None  # zipfile reads 100 bytes and fails on the CRC
    assert read_zipfile(path, "a.csv") == "Bad CRC-32 for file 'a.csv'"


def test_a_local_header_naming_another_file_is_left_to_zipfile(tmp_path):
    data = zip_bytes({"a.csv": USERS})
    path = tmp_path / "n.zip"
    path.write_bytes(data.replace(b"a.csv", b"b.csv", 1))  # the local header's name only
    assert read_fast(path, "a.csv") is None
    assert "differ" in read_zipfile(path, "a.csv")


def test_overlapping_members_are_left_to_zipfile(tmp_path):
    # a's stated compressed size reaches into b's header: Python 3.12+'s zipfile refuses that
    data = zip_bytes({"a.csv": USERS, "b.csv": b"x,y\n"})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        b_offset = archive.getinfo("b.csv").header_offset
    entry = central_entry(data, "a.csv")
    path = tmp_path / "o.zip"
    path.write_bytes(patch(data, entry + 20, "<I", b_offset))  # compressed size: up to b and past
    assert read_fast(path, "a.csv") is None


def test_encrypted_members_are_left_to_zipfile(tmp_path):
    data = zip_bytes({"a.csv": USERS})
    entry = central_entry(data, "a.csv")
    flags = struct.unpack_from("<H", data, entry + 8)[0]
    path = tmp_path / "e.zip"
    path.write_bytes(patch(data, entry + 8, "<H", flags | 0x1))
    assert read_fast(path, "a.csv") is None
    assert "password required" in read_zipfile(path, "a.csv")


def test_open_feed_reads_through_the_fast_path(tmp_path, monkeypatch):
    path = write_zip(tmp_path / "d.zip", feed_files(tiny_district()))
    expected = open_feed(path)

    def no_zipfile(*args, **kwargs):
        raise AssertionError("zipfile read a member the fast path should have read")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_zipfile)
    feed = open_feed(path)
    assert feed.content_sha256 == expected.content_sha256
    for name, parsed in expected.files.items():
        assert_frame_equal(feed.files[name].rows, parsed.rows)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2])
def test_feeds_of_other_compressions_read_alike(tmp_path, compression):
    files = feed_files(tiny_district())
    deflated = open_feed(write_zip(tmp_path / "d.zip", files))
    other = tmp_path / "o.zip"
    other.write_bytes(zip_bytes(files, compression))
    feed = open_feed(other)
    assert feed.content_sha256 == deflated.content_sha256
    for name, parsed in deflated.files.items():
        assert_frame_equal(feed.files[name].rows, parsed.rows)


def test_corrupt_member_gives_the_error_it_always_gave(tmp_path):
    data = bytearray(zip_bytes(feed_files(tiny_district())))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("users.csv")
    start = info.header_offset + 30 + len(info.filename) + 5
    data[start : start + 20] = b"\x00" * 20
    path = tmp_path / "c.zip"
    path.write_bytes(bytes(data))
    expected = read_zipfile(path, "users.csv")
    assert isinstance(expected, str)
    with pytest.raises(FeedError) as raised:
        open_feed(path)
    assert str(raised.value) == f"{path}: cannot read member 'users.csv' ({expected})"
