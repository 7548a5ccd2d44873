import io
import operator
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import rosterflow.schemas.feed as feed_module
from rosterflow.schemas.feed import FeedError, open_feed
from rosterflow.schemas.unzip import fast_read, inflate, member_ends
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


@pytest.mark.parametrize("repeated", ["users.csv", "manifest.csv", "district/users.csv"])
def test_a_member_named_twice_refuses_the_archive_naming_it(tmp_path, repeated):
    # zipfile reads the last of the name, another tool the first: which users.csv is the feed's?
    files = feed_files(tiny_district())
    top = "district/" if "/" in repeated else ""
    path = tmp_path / "twice.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name" as it writes the second
        for name, data in files.items():
            archive.writestr(top + name, data)
        archive.writestr(repeated, files[repeated.removeprefix(top)] + b"\n")
    with pytest.raises(FeedError) as refused:
        open_feed(path)
    assert str(refused.value) == f"{path}: member {repeated!r} appears twice; refusing the archive"


def test_members_named_from_the_current_folder_are_the_feed_s_files(tmp_path):
    # `bsdtar -a -cf feed.zip .` names every member `./users.csv`
    files = feed_files(tiny_district())
    path = tmp_path / "dotted.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"./{name}", data)
    feed = open_feed(path).read().parse()
    assert feed.read_issues.height == 0
    assert feed.files["users"].rows.height == tiny_district()["users"].height


def test_a_member_named_twice_once_from_the_current_folder_refuses_the_archive(tmp_path):
    files = feed_files(tiny_district())
    path = tmp_path / "twice.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("./users.csv", files["users.csv"])
    with pytest.raises(FeedError) as refused:
        open_feed(path)
    assert str(refused.value) == f"{path}: member 'users.csv' appears twice; refusing the archive"


# --- the property: the same bytes as zipfile, or a refusal in both --------------------------
#
# A refusal is what feed.py turns into its one-line unreadable-feed error: a FeedError, raised
# while opening the archive (`_open_source`) or by a member's reader. zipfile refuses when
# `ZipFile(path)` or `read(name)` raises anything; feed.py must then raise FeedError, and
# nothing else. The fast reader may decline a member (None) and leave it to zipfile; whatever
# it does return must be exactly what zipfile reads.


@dataclass(frozen=True)
class Archive:
    members: tuple[tuple[str, bytes, int, int], ...] = ()  # name, data, method, level
    descriptors: bool = False  # written to an unseekable output: data descriptors
    zip64: bool = False

    def build(self) -> bytes:
        out = _Unseekable() if self.descriptors else io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, data, method, level in self.members:
                archive.compression, archive.compresslevel = method, level
                with archive.open(name, "w", force_zip64=self.zip64) as member:
                    member.write(data)
        return (out.buffer if self.descriptors else out).getvalue()


class Place(NamedTuple):
    """Where a member lies: its central record, its local header, its compressed bytes."""

    entry: int
    entry_size: int
    local: int
    start: int


_CENTRAL_SIZE, _LOCAL_SIZE = 46, 30
_FIELDS = {"crc": (16, 14), "compress_size": (20, 18), "file_size": (24, 22)}  # central, local
_POLICY = (
    "points outside the archive",
    "symbolic link",
    "zip bomb",
    "unpacks to more than",
    "appears twice",  # (`users.csv` beside `./users.csv`, which zipfile reads as two)
)


def _places(data: bytes) -> list[Place]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entry, places = archive.start_dir, []
        for info in archive.infolist():
            entry_size = _CENTRAL_SIZE + sum(struct.unpack_from("<3H", data, entry + 28))
            local = info.header_offset
            start = local + _LOCAL_SIZE + sum(struct.unpack_from("<2H", data, local + 26))
            places.append(Place(entry, entry_size, local, start))
            entry += entry_size
    return places


def damaged(archive: Archive, damages: tuple[tuple, ...]) -> bytes:
    """The archive with each damage done in turn, at offsets of the intact archive."""
    intact = archive.build()
    places = _places(intact)
    data = bytearray(intact)
    for kind, *args in damages:
        if not data:
            break
        if kind == "flip":  # any byte
            position, xor = args
            data[position % len(data)] ^= xor
        elif kind == "truncate":
            del data[args[0] % len(data) :]
        elif not places:
            continue
        elif kind in ("central", "local"):  # a byte of a member's central record or local header
            index, offset, xor = args
            place = places[index % len(places)]
            if kind == "central":
                at = place.entry + offset % place.entry_size
            else:
                at = place.local + offset % (place.start - place.local)
            if at < len(data):
                data[at] ^= xor
        elif kind == "lie":  # a size or the CRC stated otherwise
            index, name, where, delta = args
            place = places[index % len(places)]
            central, local = _FIELDS[name]
            ats = {"central": [place.entry + central], "local": [place.local + local]}
            ats["both"] = ats["central"] + ats["local"]
            for at in ats[where]:
                if at + 4 <= len(data):
                    value = struct.unpack_from("<I", data, at)[0]
                    struct.pack_into("<I", data, at, (value + delta) % 2**32)
        elif kind == "consistent":
            _consistent_lie(data, places[args[0] % len(places)], *args[1:])
    return bytes(data)


def _consistent_lie(data: bytearray, place: Place, position: int, xor: int) -> None:
    """Damage a member's compressed bytes, then make its central record state the CRC and size
    of what the fast reader's inflater makes of them. A stream that zlib refuses and that
    inflater reads would then pass every check of the fast reader: the divergence a random flip
    cannot find, as it never comes with a CRC to match."""
    if place.entry + _CENTRAL_SIZE > len(data):
        return
    method, compress_size, file_size = struct.unpack_from("<H8xII", data, place.entry + 10)
    if not 0 < compress_size < 0xFFFFFFFF or file_size == 0xFFFFFFFF:
        return  # zip64 sizes live in the extra field: not this damage
    if place.start + compress_size > len(data):
        return
    data[place.start + position % compress_size] ^= xor
    compressed = bytes(data[place.start : place.start + compress_size])
    inflated = compressed
    if method == zipfile.ZIP_DEFLATED:
        inflated = (inflate(compressed, 2**32) or (None,))[0]
        if inflated is None:
            return  # refused: the damage stays, with the CRC and size of the intact member
    struct.pack_into("<I", data, place.entry + 16, zlib.crc32(inflated))
    struct.pack_into("<I", data, place.entry + 24, len(inflated))


REFUSED = "refused"


def zipfile_reads(path: Path) -> dict[str, bytes | str] | str:
    """Every member's bytes by name as zipfile reads them, REFUSED where it raises; REFUSED
    alone when it cannot open the archive."""
    try:
        archive = zipfile.ZipFile(path)
    except Exception:
        return REFUSED
    with archive:
        reads: dict[str, bytes | str] = {}
        for name in archive.namelist():  # a repeated name reads as its last entry
            try:
                reads[name] = archive.read(name)
            except Exception:
                reads[name] = REFUSED
        return reads


def feed_reads(path: Path) -> dict[str, bytes | str] | str:
    """The same through feed.py's reader, REFUSED where it raises FeedError (one line)."""
    try:
        source = feed_module._open_source(path)
        reads: dict[str, bytes | str] = {}
        for name, member in source.members.items():
            try:
                reads[name] = member.read()
            except FeedError as error:
                assert "\n" not in str(error)
                reads[name] = REFUSED
        return reads
    except FeedError as error:
        assert "\n" not in str(error)
        return REFUSED if not any(reason in str(error) for reason in _POLICY) else str(error)


def fast_reads(path: Path) -> list[tuple[bytes | None, bytes | str]]:
    """Per entry: what the fast reader reads (None where it declines), and what zipfile reads."""
    reads = []
    with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        ends = member_ends(archive)
        for info in archive.infolist():
            fast = fast_read(handle.fileno(), info, ends.get(info.header_offset))
            try:
                reads.append((fast, archive.read(info)))
            except Exception:
                reads.append((fast, REFUSED))
    return reads


def _rows(numbers: list[int]) -> bytes:
    """CSV-like text: deflate writes it as blocks with Huffman codes of their own, whose
    headers a damage can make invalid."""
    return b"".join(b"u%d,active,%d\n" % (n, n % 977) for n in numbers)


_TEXT = b"sourcedId,status,givenName\n" + b"u1,active,Ana\nu2,,Bo\n" * 40
_NAMES = st.text(st.sampled_from("abz09_-.é日"), min_size=1, max_size=8)
_MEMBER = st.tuples(
    st.one_of(_NAMES, st.tuples(_NAMES, _NAMES).map("/".join)),
    st.one_of(
        st.binary(max_size=4096),  # incompressible
        st.builds(operator.mul, st.binary(min_size=1, max_size=40), st.integers(0, 200)),
        st.lists(st.integers(0, 10**6), max_size=300).map(_rows),  # dynamic Huffman blocks
    ),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    st.integers(0, 9),
)
ARCHIVES = st.builds(
    Archive,
    st.lists(_MEMBER, max_size=4, unique_by=lambda member: member[0]).map(tuple),
    st.booleans(),
    st.booleans(),
)
_BYTE = st.integers(1, 255)
DAMAGES = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 2**16), _BYTE),
        st.tuples(st.just("truncate"), st.integers(0, 2**16)),
        st.tuples(
            st.sampled_from(["central", "local"]), st.integers(0, 3), st.integers(0, 99), _BYTE
        ),
        st.tuples(
            st.just("lie"),
            st.integers(0, 3),
            st.sampled_from(sorted(_FIELDS)),
            st.sampled_from(["central", "local", "both"]),
            st.one_of(st.integers(-64, 64), st.sampled_from([2**16, 2**31])),
        ),
        st.tuples(
            st.just("consistent"),
            st.integers(0, 3),
            st.one_of(st.integers(0, 40), st.integers(0, 2**16)),  # the first block's header
            _BYTE,
        ),
    ),
    max_size=3,
).map(tuple)

_ROWS = Archive(
    (("users.csv", _rows([i * 7919 % 1000 for i in range(200)]), zipfile.ZIP_DEFLATED, 6),)
)
_ONE = Archive((("users.csv", _TEXT, zipfile.ZIP_DEFLATED, 6),))
_UTF8 = Archive((("é.csv", _TEXT, zipfile.ZIP_DEFLATED, 6),))


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property") / "feed.zip"


@settings(max_examples=250, deadline=None)
@given(archive=ARCHIVES, damages=DAMAGES)
@example(archive=Archive(), damages=())  # no members at all
@example(  # empty members, stored and deflated; deflate level 0 (stored blocks in the stream)
    archive=Archive(
        (
            ("a", b"", zipfile.ZIP_STORED, 0),
            ("b", b"", zipfile.ZIP_DEFLATED, 9),
            ("c/d", _TEXT, zipfile.ZIP_DEFLATED, 0),
        )
    ),
    damages=(),
)
@example(archive=replace(_ONE, descriptors=True, zip64=True), damages=())
@example(archive=_ONE, damages=(("lie", 0, "crc", "central", 1),))
@example(archive=_ONE, damages=(("lie", 0, "file_size", "central", 1),))  # zipfile reads it
@example(archive=_ONE, damages=(("lie", 0, "file_size", "central", -1),))
@example(archive=_ONE, damages=(("lie", 0, "compress_size", "central", -1),))
@example(archive=_ONE, damages=(("lie", 0, "compress_size", "both", 2**16),))
@example(archive=replace(_ONE, descriptors=True), damages=(("lie", 0, "crc", "local", 1),))
@example(archive=_ONE, damages=(("truncate", 100),))  # inside the compressed bytes
@example(archive=_ONE, damages=(("local", 0, 30, 1),))  # the local header names another file
@example(archive=_ONE, damages=(("local", 0, 0, 1),))  # no local header signature
@example(archive=_ONE, damages=(("central", 0, 6, 0x40),))  # a zip version zipfile refuses
@example(archive=_ONE, damages=(("central", 0, 8, 0x01),))  # encrypted
@example(archive=_ONE, damages=(("central", 0, 8, 0x20),))  # compressed patched data
@example(archive=_ONE, damages=(("central", 0, 10, 0x04),))  # deflated read as bzip2
@example(archive=_ONE, damages=(("central", 0, 10, 0x80),))  # an unknown method
@example(  # read as LZMA, whose options zipfile's lzma refuses (LZMAError)
    archive=_ONE,
    damages=(("central", 0, 10, 0x06), ("flip", 41, 42), ("flip", 42, 45), ("flip", 43, 181)),
)
@example(archive=_ONE, damages=(("flip", 167, 0x01),))  # a member's offset before the file
@example(archive=_ONE, damages=(("central", 0, 42, 0x80),))  # the local header misplaced
@example(archive=_UTF8, damages=(("central", 0, 46, 0x40),))  # a name not UTF-8 as flagged
@example(archive=_UTF8, damages=(("local", 0, 30, 0x40),))
@example(archive=_UTF8, damages=(("central", 0, 9, 0x08),))  # the UTF-8 flag dropped
@example(archive=_ONE, damages=(("consistent", 0, 7, 0xFF),))
def test_the_readers_read_what_zipfile_reads_or_all_refuse(zip_path, archive, damages):
    check_readers(zip_path, archive, damages)


@settings(max_examples=150, deadline=None)
@given(
    archive=st.builds(
        lambda numbers, level: Archive(
            (("users.csv", _rows(numbers), zipfile.ZIP_DEFLATED, level),)
        ),
        st.lists(st.integers(0, 10**6), min_size=50, max_size=300),
        st.integers(1, 9),
    ),
    damages=st.tuples(st.just("consistent"), st.just(0), st.integers(0, 64), _BYTE).map(
        lambda damage: (damage,)
    ),
)
# ISA-L, the fast reader's first inflater, inflates this stream, whose damaged header leaves its
# literal/length code incomplete; zlib refuses it ("invalid literal/lengths set"), so must we
@example(archive=_ROWS, damages=(("consistent", 0, 11, 128),))
def test_a_damaged_huffman_header_is_refused_as_zipfile_refuses_it(zip_path, archive, damages):
    # random flips rarely land in a block's header and never with a CRC to match: here the
    # damage is in the first block's header and the directory states the CRC and size of what
    # the fast reader's inflater makes of it
    check_readers(zip_path, archive, damages)


def check_readers(zip_path: Path, archive: Archive, damages: tuple[tuple, ...]) -> None:
    zip_path.write_bytes(damaged(archive, damages))
    expected = zipfile_reads(zip_path)
    if expected != REFUSED:
        for fast, by_zipfile in fast_reads(zip_path):
            # how often each way is taken: pytest --hypothesis-show-statistics
            if fast is not None:
                event("entry: read by the fast reader")
            else:
                event(f"entry: declined, zipfile {'refuses' if by_zipfile == REFUSED else 'reads'}")
            assert fast is None or fast == by_zipfile
    else:
        event("archive: zipfile refuses it")
    got = feed_reads(zip_path)
    if isinstance(got, str) and got != REFUSED:
        return  # refused by feed.py's own rules (unsafe names, sizes), which zipfile has not
    if isinstance(got, dict) and isinstance(expected, dict):
        # feed.py skips folders, and reads `./users.csv` as `users.csv`
        expected = {feed_module.member_name(name): data for name, data in expected.items()}
        expected = {name: expected[name] for name in got}
    assert got == expected
