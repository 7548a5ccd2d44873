"""Read a zip member's bytes faster than `zipfile`, or not at all.

`fast_read` takes the member's compressed bytes itself (after checking its local header the way
`zipfile` does) and inflates them with zlib-ng (python-zlib-ng), then checks them as `zipfile`
would: exactly the size the central directory states, the deflate stream complete, the CRC-32
equal. Inflating stops one byte past the stated size, so a member lying about its size cannot
expand further than `zipfile` would let it. How much faster is measured in bench/README.md,
"The zip reader".

zlib-ng, not ISA-L: zlib-ng's inflate is zlib's, with the same checks, so it refuses every
stream zlib refuses. ISA-L inflated streams that zlib rejects (a Huffman code left incomplete by
a damaged block header) and, with a central directory stating that output's CRC and size, the
fast path read members `zipfile` refuses (`tests/schemas/test_unzip.py` pins one).

Anything it does not handle or does not find exactly as expected makes it return None, and the
caller reads the member with `zipfile` as before, which reads it or refuses it with its own
error. It declines:
- other compression methods than stored and deflated, encryption, patched data;
- sizes past 4 GiB (zip64 sizes), and systems without `os.pread`;
- a local header that is truncated, lacks its signature, or names another file (zipfile refuses
  these too);
- a member whose stated compressed size reaches into the next member's header or the central
  directory (overlapping entries, a zip bomb trick: newer Pythons' zipfile refuses them, 3.11's
  reads them);
- a stored member whose compressed and stated sizes differ, or a deflate stream that yields
  more or fewer bytes than stated or does not end within the compressed bytes (zipfile reads
  up to the stated size, checks the CRC of what it got, and so may read these);
- a CRC that does not match, or a stream zlib-ng refuses (zipfile refuses those too).
"""

from __future__ import annotations

import os
import struct
import zipfile

from zlib_ng import zlib_ng

_LOCAL_HEADER = struct.Struct(zipfile.structFileHeader)
_LOCAL_SIGNATURE = zipfile.stringFileHeader
_ENCRYPTED, _PATCHED, _STRONG_ENCRYPTION, _UTF8_NAME = 0x1, 0x20, 0x40, 0x800
_HANDLED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_MAX_FAST_BYTES = 2**32 - 1  # larger members (zip64 sizes) are left to zipfile


def member_ends(archive: zipfile.ZipFile) -> dict[int, int]:
    """Where each member's bytes must end at the latest (header offset -> the next member's
    header, or the central directory), as Python 3.12+'s zipfile checks against overlapping
    entries (a zip bomb trick)."""
    end = getattr(archive, "start_dir", None)
    ends: dict[int, int] = {}
    for info in sorted(archive.infolist(), key=lambda i: i.header_offset, reverse=True):
        if end is not None:
            ends[info.header_offset] = end
        end = info.header_offset
    return ends


def repeated_name(infos: list[zipfile.ZipInfo]) -> str | None:
    """The first member name the central directory lists twice, if any: `zipfile` reads the
    last one of that name, any other tool may read the first (appending to a zip adds such a
    member), so which file the feed holds is not known."""
    seen: set[str] = set()
    for info in infos:  # a feed's few members
        if info.is_dir():
            continue
        if info.filename in seen:
            return info.filename
        seen.add(info.filename)
    return None


def fast_read(fd: int, info: zipfile.ZipInfo, end: int | None) -> bytes | None:
    """The member's bytes read from the zip file open as `fd`, or None to leave it to zipfile."""
    if (
        not hasattr(os, "pread")
        or info.compress_type not in _HANDLED_METHODS
        or info.flag_bits & (_ENCRYPTED | _PATCHED | _STRONG_ENCRYPTION)
        or max(info.file_size, info.compress_size) > _MAX_FAST_BYTES
    ):
        return None
    try:
        header = os.pread(fd, _LOCAL_HEADER.size, info.header_offset)
        if len(header) != _LOCAL_HEADER.size:
            return None
        fields = _LOCAL_HEADER.unpack(header)
        flags, name_length, extra_length = fields[3], fields[10], fields[11]
        if fields[0] != _LOCAL_SIGNATURE:
            return None
        name = os.pread(fd, name_length, info.header_offset + _LOCAL_HEADER.size)
        if name.decode("utf-8" if flags & _UTF8_NAME else "cp437") != info.orig_filename:
            return None
        start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        if end is not None and start + info.compress_size > end:
            return None
        compressed = os.pread(fd, info.compress_size, start)
    except (OSError, UnicodeDecodeError, OverflowError):
        return None
    if len(compressed) != info.compress_size:
        return None
    if info.compress_type == zipfile.ZIP_STORED:
        data = compressed
    else:
        inflated = inflate(compressed, info.file_size + 1)
        if inflated is None or not inflated[1]:
            return None
        data = inflated[0]
    if len(data) != info.file_size or zlib_ng.crc32(data) != info.CRC:
        return None
    return data


def inflate(compressed: bytes, max_length: int) -> tuple[bytes, bool] | None:
    """A raw deflate stream's bytes (at most `max_length` of them) and whether the stream
    ended; None if it is invalid."""
    inflater = zlib_ng.decompressobj(-15)
    try:
        data = inflater.decompress(compressed, max_length)
    except zlib_ng.error:
        return None
    return data, inflater.eof
