"""Open a OneRoster feed (a .zip or a folder) safely and parse its files as text.

A feed's files may sit at its root or inside one top folder (what zipping a folder produces).
Zip member names are never trusted: absolute paths, `..` and absurd sizes or compression ratios
(a zip bomb) are refused before anything is extracted, and members are read in memory, never
written to disk under their own names.
"""

from __future__ import annotations

import errno
import hashlib
import json
import lzma
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import polars as pl
from blake3 import blake3

from rosterflow.schemas.by_lines import LineDelta, StoredRecords, read_by_lines
from rosterflow.schemas.csvfile import (
    LINE,
    UTF8,
    ParsedCsv,
    UnreadableFile,
    compressed_as,
    is_utf8,
    parse_csv,
)
from rosterflow.schemas.environment import MAX_COMPRESSION_RATIO, MAX_FEED_BYTES
from rosterflow.schemas.issues import issue_frame, issue_row
from rosterflow.schemas.lines import (
    LineSummary,
    line_hash,
    line_hashes,
    line_texts,
    lines_are_records,
    summary,
)
from rosterflow.schemas.spec import (
    FILE_SPECS,
    MANIFEST_FILE,
    MANIFEST_HEADER,
    MANIFEST_MODES,
    ONEROSTER_12_FILES,
    SPECS_BY_VERSION,
    FileSpec,
)
from rosterflow.schemas.unzip import fast_read, member_ends, repeated_name

_ENCRYPTED = 0x1  # a zip member's general purpose flag: encrypted
_RATIO_EXEMPT_BYTES = 1024**2  # tiny members may compress absurdly well (a header-only file)
_IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
_IGNORED_DIRS = {"__MACOSX"}
_DRIVE = re.compile(r"[A-Za-z]:")  # a Windows drive, as a name's first part starts
# What zipfile raises for an archive or member it cannot read, each turned into the one-line
# FeedError: besides BadZipFile, a zip version or compression method it does not implement
# (NotImplementedError), an encrypted member (RuntimeError), a name that is not in the encoding
# its flag states (UnicodeDecodeError, a ValueError), a truncated or corrupt stream (EOFError,
# zlib.error, OSError from bz2, LZMAError). Found by the property in tests/schemas/test_unzip.py
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    OSError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


class FeedError(Exception):
    """The feed cannot be read at all (exit code 2): a missing path, a broken or unsafe zip."""


class FeedUnreadable(FeedError):
    """The file system will not let the feed's zip, folder or a file of it be read (its
    permissions, an I/O error): nothing is wrong with the feed itself, and the inbox leaves
    such a zip where it is for the next scan."""


@dataclass
class Feed:
    """A feed's manifest and the files it states: their bytes read on `read()` (or when first
    needed), and parsed on `parse()`."""

    name: str  # the zip's or folder's file name
    fingerprint: Callable[[], str] = field(repr=False)  # computes the sha256, once asked
    manifest: dict[str, str]  # propertyName -> trimmed value
    modes: dict[str, str]  # every OneRoster file -> bulk | delta | absent
    members: dict[str, _Member] = field(repr=False)  # the files to read, by entity name
    read_issues: pl.DataFrame = field(default_factory=lambda: issue_frame([]))
    version: str = "1.1"  # the manifest's oneroster.version, when rosterflow reads it
    encoding: str = UTF8  # the files' encoding ([feed] encoding), transcoded as they are parsed
    _reading: _Reading | None = field(default=None, repr=False)  # under way once `read()`
    _files: dict[str, ParsedCsv] | None = field(default=None, repr=False)
    # the manifest's line hashes when each of its lines is one record (`schemas.lines`)
    manifest_lines: pl.Series | None = field(default=None, repr=False)
    # the manifest's line of each property it states (`file.users` -> 7)
    property_lines: dict[str, int] = field(default_factory=dict, repr=False)
    # what lets go of the stored records' reading (`read(stored=...)`), called by `release`
    releasing: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def specs(self) -> dict[str, FileSpec]:
        """The layout of this feed's files: OneRoster 1.1's or 1.2's."""
        return SPECS_BY_VERSION[self.version]

    @cached_property
    def sha256(self) -> str:
        """The feed's identity: the zip file's sha256, or one over a folder's files."""
        return self.fingerprint()

    @property
    def contents(self) -> dict[str, FileContent]:
        """The files read, by entity name (waiting for every file's bytes and digest; read
        now if they were not)."""
        return self.read()._reading.contents()

    @property
    def content_sha256(self) -> str:
        """One sha256 over the manifest and the files read (each by its name and its BLAKE3
        digest, `FileContent.digest`): equal for equal contents, however they were zipped (a
        re-export of unchanged data gets a new zip, not new contents), and the issues of the
        manifest and the zip's members, when there are any."""
        if any(not content.digest for content in self.contents.values()):
            raise ValueError(f"{self.name}: its files were read without their digests")
        digest = hashlib.sha256()
        for name in sorted(self.contents):
            digest.update(f"{name}\0{self.contents[name].digest}\0".encode())
        digest.update(json.dumps(self.manifest, sort_keys=True).encode())
        if not is_utf8(self.encoding):  # the same bytes read in another encoding are other data
            digest.update(f"\0encoding\0{self.encoding}".encode())
        if self.read_issues.height:
            # the same files and manifest properties raise other issues beside another member
            # (`file.unknown`), or under a manifest that names a property in another case or
            # states it on another line: a run recalled for equal contents records the last
            # run's issues (`warehouse.runs.recall`), which must be this feed's. (None, as in
            # most feeds, adds nothing: such contents keep the identity they had without it)
            issues = self.read_issues.sort(pl.all(), nulls_last=True)
            digest.update(b"\0issues\0" + issues.write_csv().encode())
        return digest.hexdigest()

    @property
    def system_code(self) -> str | None:
        code = self.manifest.get("source.systemCode", "").strip()
        # some exporters write the literal placeholder `absent` for an unset property; a code
        # with a character no screen shows (a NUL, an escape: the manifest is damaged, and
        # validation says so) names no tenant in audit or in a layout's file names
        return code if code and code.lower() != "absent" and code.isprintable() else None

    def default_tenant(self) -> str:
        return self.system_code or _stem(self.name)

    def read(
        self,
        parse_unless: Mapping[str, str] | None = None,
        lines: Mapping[str, LineSummary] | None = None,
        unparsed: Collection[str] = (),
        digests: bool = True,
        stored: Callable[[], StoredRecords] | None = None,
    ) -> Feed:
        """Start reading (inflating) the files and taking their digests, two at a time, biggest
        first, in threads of their own; each is parsed as soon as its bytes are in, unless
        `parse_unless` is None or names its fingerprint (`blake3:...`: bytes whose records are
        likely known, and which a recalled run never parses). With `lines` (file name -> the
        last run's `LineSummary`, perhaps none), each file's lines are hashed as it is read,
        and one with the stored summary (the same lines, perhaps in another order) is not
        parsed either. Returns at once: `contents` waits for the bytes, `parse()` for the
        parses, so the caller's own work (reading the warehouse) overlaps both. The files named
        in `unparsed` are read and hashed but not parsed: the caller may read them by lines
        (`schemas.by_lines`) and hand them to `parse`, which parses those it is not given;
        given a way to the `stored` records to read them against (asked only for a file whose
        lines are not the last run's; `stored_records`), each is read by lines in its thread
        (`FileContent.delta`). Without `digests` no file's digest is taken (validating alone
        needs none: a file's fingerprint and `content_sha256` mean nothing then)."""
        if self._reading is None:
            self._reading = _Reading(
                self.name,
                self.members,
                self.specs,
                self.encoding,
                parse_unless,
                lines,
                unparsed,
                digests,
                stored,
            )
        return self

    def release(self) -> None:
        """Let go of what reads the stored records for this feed (a cursor on the warehouse,
        perhaps still reading when the feed's lines answered without them), before the
        warehouse closes."""
        while self.releasing:
            self.releasing.pop()()

    def stored_records(self) -> StoredRecords | None:
        """The stored records the files were read against by lines (`read(stored=...)`), read
        now if no file asked for them; None when none were given."""
        against = self._reading.against if self._reading is not None else None
        return against() if against is not None else None

    def lines(self) -> dict[str, pl.Series] | None:
        """Every file's line hashes by file name, the manifest's included, when every one was
        hashed (`read(lines=...)`, a UTF-8 feed whose manifest has a record per line) and the
        manifest and the zip's members raised no issue (an unknown file's warning is no line
        of any file: the same lines with another member would raise other issues); None
        otherwise."""
        if self.manifest_lines is None or self.read_issues.height:
            return None
        found = {MANIFEST_FILE: self.manifest_lines}
        for name, content in self.contents.items():
            if content.lines is None:
                return None
            found[self.specs[name].file_name] = content.lines
        return found

    def parse(self, given: Mapping[str, ParsedCsv] | None = None) -> Feed:
        """Parse the files not parsed yet (two at a time, biggest first); raises FeedError for
        the first unreadable file in manifest order, else for the first that is not in the
        feed's encoding. The files `given` are taken as they are (a file read by its changed
        lines: `schemas.by_lines`)."""
        if self._files is None:
            contents = self.contents
            parsed = self._reading.parsed() | dict(given or {})
            to_parse = sorted(
                (name for name in contents if name not in parsed),
                key=lambda name: -len(contents[name].data),
            )
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="feed-parse") as pool:
                parsing = {name: pool.submit(self._parse, name) for name in to_parse}
                parsed |= {name: _outcome(parsing[name]) for name in to_parse}
            for content in contents.values():
                content.data = b""  # parsed: the bytes are no longer needed
                content.texts = None
                content.delta = None  # (or its lines, and the stored records they stand on)
            self._reading.against = None
            for name in contents:  # as if every file were parsed in manifest order
                if isinstance(parsed[name], Exception):
                    raise parsed[name]
            self._files = {
                name: replace(
                    parsed[name],
                    fingerprint=file_fingerprint(contents, name, self.version, self.encoding),
                )
                for name in contents
            }
        return self

    def _parse(self, name: str) -> ParsedCsv:
        return _parse_file(self.name, self.specs[name], self.contents[name].data, self.encoding)

    @property
    def files(self) -> dict[str, ParsedCsv]:
        """The parsed files marked bulk or delta (and present)."""
        return self.parse()._files

    @property
    def issues(self) -> pl.DataFrame:
        """Problems of the manifest, of the zip's members and of reading the files."""
        return pl.concat([self.read_issues, *(f.issues for f in self.files.values())])

    def rows(self, name: str) -> pl.DataFrame | None:
        parsed = self.files.get(name)
        return None if parsed is None else parsed.rows


def _outcome(parsing: Future[ParsedCsv]) -> ParsedCsv | Exception:
    try:
        return parsing.result()
    except Exception as error:  # raised once every file is parsed, in manifest order
        return error


@dataclass
class FileContent:
    data: bytes
    # the bytes' BLAKE3 (hex): as strong an identity as sha256, for far less CPU on the hot
    # path of every run (the hashing thread reads every byte of the feed)
    digest: str
    lines: pl.Series | None = None  # each line's hash, when the feed's lines are hashed
    # each line's text, of a file read but not parsed (`Feed.read(unparsed=...)`), until the
    # feed is parsed: what reading it by lines takes its changed lines from
    texts: pl.Series | None = None
    # the file read by lines in its thread (`delta_read`; None: the stored records cannot
    # stand in for its unchanged lines)
    delta: LineDelta | None = None
    delta_read: bool = False

    @property
    def fingerprint(self) -> str:
        # (named by its hash: a file stored under another's, sha256 before, is another file,
        # parsed once more)
        return f"blake3:{self.digest}"


def file_fingerprint(
    contents: Mapping[str, FileContent], name: str, version: str, encoding: str = UTF8
) -> str:
    """What identifies the records a file gives: its bytes, and the encoding they are read in
    when it is not UTF-8; in a 1.2 feed, the users' records are read from users.csv and
    roles.csv together, so theirs is both files' bytes (a change of roles alone must not pass
    for the same users file)."""
    fingerprint = contents[name].fingerprint
    if version == "1.2" and name == "users" and "roles" in contents:
        fingerprint = f"{fingerprint}+roles:{contents['roles'].fingerprint}"
    return fingerprint if is_utf8(encoding) else f"{fingerprint}+{encoding}"


def own_fingerprint(fingerprint: str) -> str:
    """The part of a `file_fingerprint` that is the file's own bytes' (its `FileContent`'s)."""
    return fingerprint.partition("+")[0]


def file_issue(file: str, rule: str, severity: str, message: str) -> dict[str, object]:
    """An issue of a whole file (no line, field or value)."""
    return issue_row(file, None, None, None, rule, severity, message)


def _stem(name: str) -> str:
    return name[: -len(".zip")] if name.lower().endswith(".zip") else name


# --- sources: a zip or a folder, reduced to {relative name: reader} ------------------------


@dataclass(frozen=True)
class _Member:
    read: Callable[[], bytes]
    size: int  # bytes once read (as stated: a zip's reader refuses a member of another size)


@dataclass(frozen=True)
class _Source:
    name: str
    sha256: Callable[[], str]
    members: dict[str, _Member]  # relative path -> member


def as_text(name: str) -> str:
    """A file name as text: a byte of a name that is not UTF-8 (which Python holds as a lone
    surrogate, and neither DuckDB nor a terminal takes) as `\\xNN`."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# what the file system answers the same way however often it is asked: its permissions, a
# name it cannot take; any other error (EIO, a share dropping out) is raised as it is, and a
# sync in Prefect reads the feed again (`flows.sync.worth_retrying`)
_LASTING = (errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.ELOOP)


def unreadable(path: str | os.PathLike[str], error: OSError) -> OSError | FeedUnreadable:
    """What to raise for a file or folder the file system will not open, list or read: the
    one-line FeedError with the file system's reason when asking again cannot help (its
    permissions), else `error` itself."""
    if error.errno not in _LASTING:
        return error
    return FeedUnreadable(f"{os.fsdecode(path)}: cannot be read ({error.strerror or error})")


def _open_source(path: Path) -> _Source:
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FeedError(f"{path}: no such file or folder") from None
    except OSError as error:  # a folder above it that cannot be entered, say
        raise unreadable(path, error) from None
    if stat.S_ISDIR(mode):
        return _folder_source(path)
    if not stat.S_ISREG(mode):  # (opened, a named pipe no one writes to waits for ever)
        raise FeedError(
            f"{path}: not a zip archive or a folder but a named pipe, a socket or a device (a "
            "feed is a OneRoster .zip)"
        )
    try:
        handle = path.open("rb")  # ours, so the fast reader can read it by offset
    except OSError as error:  # (not "not a zip": a zip this user may not read is one)
        raise unreadable(path, error) from None
    if not zipfile.is_zipfile(handle):
        handle.close()
        raise FeedError(f"{path}: not a zip archive or a folder (a feed is a OneRoster .zip)")
    return _zip_source(path, handle)


def _folder_files(folder: Path) -> list[Path]:
    """Every file under `folder`, every other entry that is no folder (a symbolic link to
    nothing, a named pipe), and every folder named as a CSV file is (`users.csv/`: it stands
    for the file, as a named pipe does), sorted; a folder in it that cannot be listed (its
    permissions) is the FeedError naming it: what it holds cannot be told apart from
    nothing."""

    def refuse(error: OSError) -> None:
        raise unreadable(error.filename or folder, error)

    found = []
    for top, folders, names in os.walk(folder, onerror=refuse):
        folders.sort()
        found += [Path(top, name) for name in names]
        found += [Path(top, name) for name in folders if _named_as_csv(name)]
    return sorted(found)


def _named_as_csv(name: str) -> bool:
    return name.lower().endswith(".csv")


def _not_a_file(file: Path) -> str | None:
    """Why `file`, listed in a feed's folder, is no file to read (a symbolic link to nothing, a
    named pipe), or None for a file (a link to a file is one)."""
    try:
        if file.is_file():
            return None
        if not file.is_symlink():
            if file.is_dir():
                return "not a file but a folder"
            return "not a file but a named pipe, a socket or a device"
        target = as_text(os.readlink(file))
    except OSError as error:  # a folder listed that cannot be entered
        raise unreadable(file, error) from None
    try:
        file.stat()
    except FileNotFoundError:
        return f"a symbolic link to {target}, which does not exist"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"a symbolic link to {target}, which leads back to itself"
        raise unreadable(file, error) from None
    return f"a symbolic link to {target}, which is not a file"


def _folder_member(file: Path) -> _Member:
    def read() -> bytes:
        try:
            return file.read_bytes()
        except OSError as error:  # (its permissions: the FeedError naming it, exit 2)
            raise unreadable(file, error) from None

    try:
        size = file.stat().st_size
    except OSError as error:
        raise unreadable(file, error) from None
    return _Member(read, size)


def _refusing_member(file: Path, why: str) -> _Member:
    """What stands for an entry of a feed's folder that is no file: listed as the file it is
    named for (which the manifest may want), refusing the feed if read, where a users.csv
    that is a symbolic link to nothing was a feed without users.csv ("no such file")."""

    return _refusing(as_text(str(file)), why)


def _refusing(shown: str, why: str) -> _Member:
    def read() -> bytes:
        raise FeedUnreadable(f"{shown}: cannot be read ({why})")

    return _Member(read, 0)


def _folder_source(folder: Path) -> _Source:
    entries = {
        as_text(file.relative_to(folder).as_posix()): file
        for file in _folder_files(folder)
        if not _ignored(file.relative_to(folder).as_posix())
    }
    not_files = {relative: _not_a_file(file) for relative, file in entries.items()}
    files = {relative: file for relative, file in entries.items() if not_files[relative] is None}

    def sha256() -> str:
        digest = hashlib.sha256()
        for relative, file in files.items():
            try:
                own = file_sha256(file)
            except OSError as error:  # (a file no member stands for is read here alone)
                raise unreadable(file, error) from None
            digest.update(relative.encode() + b"\0" + own.encode())
        return digest.hexdigest()

    return _Source(
        as_text(folder.name),
        sha256,
        {
            relative: _folder_member(file)
            if (why := not_files[relative]) is None
            else _refusing_member(file, why)
            for relative, file in entries.items()
        },
    )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """A file's sha256, in hex: a zip feed's identity (`Feed.sha256`), which a sync records as
    `feed_sha256` and the inbox looks an arriving zip up by."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _zip_source(path: Path, handle: BinaryIO) -> _Source:
    try:
        archive = zipfile.ZipFile(handle)
        infos = archive.infolist()
        ends = member_ends(archive)
    except _ZIP_ERRORS as error:
        raise FeedError(f"{path}: damaged zip archive ({error})") from None
    if (repeated := repeated_name(infos)) is not None:
        raise FeedError(f"{path}: member {repeated!r} appears twice; refusing the archive")
    total = 0
    max_bytes, max_ratio = MAX_FEED_BYTES.value(), MAX_COMPRESSION_RATIO.value()
    members: dict[str, _Member] = {}
    for info in infos:
        _refuse_unsafe_name(path, info.filename)
        name = member_name(info.filename)
        if info.is_dir() or name.endswith("/"):
            folder = name.rstrip("/")
            if not _named_as_csv(folder) or _ignored(folder):
                continue
            if folder in members:
                raise FeedError(f"{path}: member {folder!r} appears twice; refusing the archive")
            # a folder named as a CSV file stands for the file, refusing the feed if read
            # (the manifest wants it), where it was a feed without the file
            members[folder] = _refusing(f"{path}: member {info.filename!r}", "a folder, not a file")
            continue
        if _ignored(name):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise FeedError(
                f"{path}: member {info.filename!r} is a symbolic link; refusing the archive"
            )
        if name in members:
            raise FeedError(f"{path}: member {name!r} appears twice; refusing the archive")
        total += info.file_size
        if total > max_bytes:
            raise FeedError(
                f"{path}: unpacks to more than {max_bytes:,} bytes; refusing a possible zip "
                "bomb (raise ROSTERFLOW_MAX_FEED_BYTES if the feed is genuinely that large)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_EXEMPT_BYTES and ratio > max_ratio:
            raise FeedError(
                f"{path}: member {name!r} expands {ratio:,.0f}x ({info.file_size:,} bytes); "
                "refusing a possible zip bomb"
            )
        members[name] = _Member(
            _zip_reader(path, handle, archive, info, ends.get(info.header_offset)),
            info.file_size,
        )
    return _Source(as_text(path.name), lambda: file_sha256(path), members)


def member_name(name: str) -> str:
    """The file a zip member names: `./users.csv` (as `bsdtar -cf feed.zip .` names it) is
    `users.csv`, and `district\\users.csv` is `district/users.csv`: Windows PowerShell's
    Compress-Archive separates folders with backslashes, where the zip format wants slashes,
    and zipfile takes them for separators on Windows only (unzip does everywhere). A `.` or an
    empty part names no folder either (`district/./users.csv` and `district//users.csv` are
    `district/users.csv`, which unzip writes them to): beside that member, one of them is the
    same file twice."""
    name = name.replace("\\", "/")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return "/".join(parts) + ("/" if parts and name.endswith("/") else "")


def _zip_reader(
    path: Path,
    handle: BinaryIO,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    end: int | None,
) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.flag_bits & _ENCRYPTED:  # (zipfile's own message shows the ZipInfo's repr)
            raise FeedError(
                f"{path}: member {info.filename!r} is encrypted; export the feed without a password"
            )
        # the sizes checked above bound what either reader inflates: the fast one stops one
        # byte past the stated size, ZipExtFile at the stated size (and checks the CRC)
        data = fast_read(handle.fileno(), info, end)
        if data is not None:
            return data
        # anything unusual or damaged: zipfile reads it, or fails, exactly as it always did
        try:
            with archive.open(info) as member:
                return member.read()
        except _ZIP_ERRORS as error:
            raise FeedError(f"{path}: cannot read member {info.filename!r} ({error})") from None

    return read


def _refuse_unsafe_name(path: Path, name: str) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    # a drive (`C:/evil.csv`, `C:evil.csv`) points outside; a colon elsewhere in a name is a
    # character of it (`export 10:30.log`, which Linux and macOS save), a member like any other
    first = pure.parts[0] if pure.parts else ""
    drive = ":" in first and _DRIVE.match(first) is not None
    if pure.is_absolute() or ".." in pure.parts or drive:
        raise FeedError(f"{path}: member {name!r} points outside the archive; refusing it")


def _ignored(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    # a member named "" or "." (a damaged or odd archive) names no file: none of a feed's
    return not parts or parts[-1] in _IGNORED_NAMES or any(p in _IGNORED_DIRS for p in parts)


def _at_root(members: Mapping[str, _Member]) -> dict[str, _Member]:
    """The feed's files by name: at the root, or inside one top folder."""
    top = _top_folder(members)
    if top is not None:
        return {
            PurePosixPath(n).relative_to(top).as_posix(): read
            for n, read in members.items()
            if len(PurePosixPath(n).parts) == 2
        }
    return {n: read for n, read in members.items() if len(PurePosixPath(n).parts) == 1}


def _top_folder(members: Mapping[str, _Member]) -> str | None:
    """The one folder a feed's files are read in when nothing is at its root, else None."""
    top_folders = {PurePosixPath(n).parts[0] for n in members if len(PurePosixPath(n).parts) > 1}
    at_root = any(len(PurePosixPath(n).parts) == 1 for n in members)
    return next(iter(top_folders)) if len(top_folders) == 1 and not at_root else None


def _folder_issues(members: Mapping[str, _Member]) -> list[dict]:
    """A warning for each file in a folder of the feed where none is read (`old/users.csv`
    beside the files read): named by its path, it is no file of the feed, which a person
    may have meant it to be. A hidden folder's (`.git/`) are a tool's, not a person's."""
    top = _top_folder(members)
    depth = 1 if top is None else 2
    read_in = "at its root" if top is None else f"in {top}/"
    return [
        file_issue(
            name,
            "file.unknown",
            "warning",
            f"in a folder of the feed; ignored (a feed's files are read {read_in})",
        )
        for name in sorted(members)
        if len(parts := PurePosixPath(name).parts) > depth
        and not any(part.startswith(".") for part in parts[:-1])
    ]


# --- the manifest ---------------------------------------------------------------------------


# the manifest's properties, by their name in lowercase
MANIFEST_PROPERTIES = {
    name.lower(): name
    for name in (
        "manifest.version",
        "oneroster.version",
        "source.systemName",
        "source.systemCode",
        *(f"file.{file}" for specs in SPECS_BY_VERSION.values() for file in specs),
    )
}


# the properties whose value is a version: like a mode, a word of the spec's, never a district's
_VERSION_PROPERTIES = ("manifest.version", "oneroster.version")


def _without_invisible(text: str) -> str:
    """`text` without the characters a screen does not show (Unicode format characters: a
    zero-width space, a byte-order mark, a soft hyphen)."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _shown(text: str) -> str:
    """`text` with each character a screen does not show as \\uXXXX, as header names and IDs
    are shown."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _read_as(stated: str, visible: str) -> str:
    """What a manifest's property name or value holding characters a screen does not show is
    read as (`manifest.invisible`)."""
    return (
        f"'{_shown(stated)}' holds a character a screen does not show (here as \\uXXXX), "
        f"read as {visible!r}"
    )


def _manifest(
    parsed: ParsedCsv,
) -> tuple[dict[str, str], dict[str, str], dict[str, int], list[dict], str]:
    """The manifest's properties, each file's mode, the line of each property, the issues,
    and the OneRoster version whose files the feed is read as (1.1 when it names none)."""
    issues: list[dict] = []

    def issue(line, field_, value, rule, severity, message):
        issues.append(issue_row(MANIFEST_FILE, line, field_, value, rule, severity, message))

    if not parsed.readable:  # not comma-separated: its one issue says so, and no file is read
        return {}, dict.fromkeys(FILE_SPECS, "absent"), {}, issues, "1.1"
    if parsed.header != MANIFEST_HEADER:
        issue(
            1,
            None,
            ",".join(parsed.header),
            "manifest.header",
            "error",
            "manifest.csv must start with the header propertyName,value",
        )
        return {}, dict.fromkeys(FILE_SPECS, "absent"), {}, issues, "1.1"
    rows = parsed.rows.select(
        pl.col("propertyName").str.strip_chars().str.strip_chars("\"'").alias("name"),
        pl.col("value").str.strip_chars().str.strip_chars("\"'").alias("value"),
        pl.col(LINE),
    )
    manifest: dict[str, str] = {}
    lines: dict[str, int] = {}
    for name, value, line in rows.iter_rows():  # a manifest has about 17 rows
        if name is None:
            continue
        visible = _without_invisible(name)
        if visible != name and visible.lower() in MANIFEST_PROPERTIES:
            # `file.users` and a zero-width space (a name copied from a web page) taken for
            # another property: the file absent, its records kept, with warnings that showed
            # no difference from `file.users`
            issue(
                line,
                _shown(name),
                value,
                "manifest.invisible",
                "warning",
                _read_as(name, visible),
            )
            name = visible
        known = MANIFEST_PROPERTIES.get(name.lower())
        if known is not None and known != name:
            # `File.users` read as `file.users`, as a mode `Bulk` is read as `bulk`: taken for
            # another property, the file would be absent, its records kept without a word
            issue(line, name, value, "manifest.case", "warning", f"{name!r} read as {known!r}")
            name = known
        if name in manifest:
            issue(
                line,
                name,
                value,
                "manifest.duplicate",
                "error",
                f"{name} is stated twice (first on line {lines[name]})",
            )
            continue
        if value and (name.startswith("file.") or name in _VERSION_PROPERTIES):
            visible = _without_invisible(value)
            if visible != value:  # (a mode or version: no text of a district's own)
                issue(
                    line,
                    name,
                    _shown(value),
                    "manifest.invisible",
                    "warning",
                    _read_as(value, visible),
                )
                value = visible
        manifest[name] = value or ""
        lines[name] = line

    stated_version = manifest.get("oneroster.version")
    if stated_version not in SPECS_BY_VERSION:
        issue(
            lines.get("oneroster.version"),
            "oneroster.version",
            stated_version,
            "manifest.version",
            "error",
            "rosterflow reads OneRoster 1.1 and 1.2; the manifest says "
            f"{stated_version or 'nothing'}",
        )
    # a version rosterflow does not read is refused above; its files are named as in 1.1
    version = stated_version if stated_version in SPECS_BY_VERSION else "1.1"
    specs = SPECS_BY_VERSION[version]
    if manifest.get("manifest.version", "1.0") != "1.0":
        issue(
            lines["manifest.version"],
            "manifest.version",
            manifest["manifest.version"],
            "manifest.version",
            "warning",
            "expected manifest.version 1.0",
        )

    modes: dict[str, str] = {}
    for name in specs:
        key = f"file.{name}"
        value = manifest.get(key)
        if value is None:
            issue(
                None,
                key,
                None,
                "manifest.file_row",
                "warning",
                f"the manifest has no {key} row; the file is treated as absent",
            )
            modes[name] = "absent"
        elif value in MANIFEST_MODES:
            modes[name] = value
        elif value.lower() in MANIFEST_MODES:
            issue(
                lines[key],
                key,
                value,
                "manifest.case",
                "warning",
                f"{value!r} read as {value.lower()!r}",
            )
            modes[name] = value.lower()
        else:
            issue(
                lines[key],
                key,
                value,
                "manifest.mode",
                "error",
                "a file must be marked bulk, delta or absent",
            )
            modes[name] = "absent"
    for key in manifest:
        if key.startswith("file.") and key[len("file.") :] not in specs:
            issue(
                lines[key],
                _shown(key),
                manifest[key],
                "manifest.unknown_file",
                "warning",
                f"{_shown(key)} is not a OneRoster {version} file; ignored",
            )
    if version == "1.2" and modes["users"] != modes["roles"]:
        # a 1.2 user's role and orgs are in roles.csv: the two files make one record together
        issue(
            lines.get("file.roles"),
            "file.roles",
            modes["roles"],
            "manifest.roles_mode",
            "error",
            f"users.csv is {modes['users']} but roles.csv is {modes['roles']}: in OneRoster 1.2 "
            "a user's role and orgs are rows of roles.csv, read with the user's users.csv row; "
            "mark both bulk, both delta or both absent",
        )
    return manifest, modes, lines, issues, version


# --- the feed -------------------------------------------------------------------------------


def open_feed(
    path: str | os.PathLike[str],
    *,
    parse: bool = True,
    encoding: str = UTF8,
    digests: bool = True,
) -> Feed:
    """Read a feed's manifest and list the files it marks bulk or delta; read and parse them
    unless `parse=False` (then `Feed.read()` reads them, `Feed.parse()` parses them), each
    read in `encoding` (`[feed] encoding`); without `digests`, reading them takes no digest
    (see `Feed.read`). Raises FeedError if unreadable."""
    source = _open_source(Path(path))
    members = _at_root(source.members)
    if MANIFEST_FILE not in members:
        missing = _manifest_missing(source.members)
        absent = dict.fromkeys(FILE_SPECS, "absent")
        return Feed(
            source.name, source.sha256, {}, absent, {}, issue_frame([missing]), encoding=encoding
        )
    manifest_data = members[MANIFEST_FILE].read()
    manifest_csv = _parsed(source.name, manifest_data, MANIFEST_FILE, encoding)
    manifest, modes, lines, issues, version = _manifest(manifest_csv)
    if manifest.get("oneroster.version") and manifest["oneroster.version"] not in SPECS_BY_VERSION:
        # a version rosterflow does not read: its files are not read as some other version's
        # (every header and file name would be reported against that one), only the manifest;
        # a manifest that names no version has its files read as 1.1's
        # (nor are the manifest's file names judged against some other version's)
        stated = [issue for issue in issues if issue["rule"] != "manifest.unknown_file"]
        absent = dict.fromkeys(FILE_SPECS, "absent")
        found = pl.concat([issue_frame(stated), manifest_csv.issues])
        return Feed(source.name, source.sha256, manifest, absent, {}, found, encoding=encoding)
    specs = SPECS_BY_VERSION[version]
    issues += _member_issues(members, modes, manifest, lines, version)
    issues += _folder_issues(source.members)
    to_read = {
        name: members[specs[name].file_name]
        for name, mode in modes.items()
        if mode != "absent" and specs[name].file_name in members
    }
    read_issues = pl.concat([issue_frame(issues), manifest_csv.issues])
    feed = Feed(
        source.name, source.sha256, manifest, modes, to_read, read_issues, version, encoding
    )
    feed.manifest_lines = _own_lines(manifest_data, manifest_csv, encoding)
    feed.property_lines = lines
    return feed.read(parse_unless={}, digests=digests).parse() if parse else feed


def _manifest_missing(members: Mapping[str, _Member]) -> dict[str, object]:
    """The error of a feed without manifest.csv where it is read, naming (as its value) a
    manifest the feed holds elsewhere: in another letter case, two folders down, or in a top
    folder with other files beside it, where nothing is read (found only on this error)."""
    said = "the feed has no manifest.csv at its root"
    elsewhere = sorted(
        (name for name in members if PurePosixPath(name).name.lower() == MANIFEST_FILE),
        key=lambda name: (len(PurePosixPath(name).parts), name),
    )
    if not elsewhere:
        # a feed zipped again (a zip in the zip), or the folder a feed's zip was put in
        zips = sorted(name for name in members if PurePosixPath(name).suffix.lower() == ".zip")
        if not zips:
            return file_issue(MANIFEST_FILE, "manifest.missing", "error", said)
        return issue_row(
            MANIFEST_FILE,
            None,
            None,
            zips[0],
            "manifest.missing",
            "error",
            f"{said}; it has {zips[0]}: a feed is the zip that holds manifest.csv, never read "
            "from a zip inside it (give that zip itself)",
        )
    found = elsewhere[0]
    if PurePosixPath(found).name != MANIFEST_FILE:
        why = "file names are case-sensitive (name it manifest.csv)"
    else:
        why = (
            "a feed's files are read at its root, or inside one top folder when nothing else "
            "is at the root"
        )
    return issue_row(
        MANIFEST_FILE,
        None,
        None,
        found,
        "manifest.missing",
        "error",
        f"{said} (or inside its one top folder); it has {found}: {why}",
    )


def _own_lines(data: bytes, parsed: ParsedCsv, encoding: str) -> pl.Series | None:
    """The line hashes of a file each of whose lines after the header is one record."""
    if not (is_utf8(encoding) and parsed.one_line_records):
        return None
    hashes = line_hashes(data)
    return hashes if lines_are_records(hashes, parsed) else None


READING_THREADS = "feed-read"  # the threads that read the files, and parse those that changed


class _Reading:
    """A feed's files being read in threads: two at a time, biggest first, each hashed as soon
    as its bytes are in, then parsed unless `parse_unless` is None or names its fingerprint
    (inflate, hashlib and Polars all let go of the GIL)."""

    def __init__(
        self,
        feed_name: str,
        members: Mapping[str, _Member],
        specs: Mapping[str, FileSpec],
        encoding: str,
        parse_unless: Mapping[str, str] | None,
        lines: Mapping[str, LineSummary] | None = None,
        unparsed: Collection[str] = (),
        digests: bool = True,
        against: Callable[[], StoredRecords] | None = None,
    ) -> None:
        self._names = list(members)  # manifest order
        self.against = against
        self._read: dict[str, Future[FileContent]] = {name: Future() for name in members}
        self._parse: dict[str, Future[ParsedCsv | Exception | None]] = {
            name: Future() for name in members
        }
        hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-hash")
        workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix=READING_THREADS)

        def load(name: str) -> None:
            read, parse = self._read[name], self._parse[name]
            try:
                content = FileContent(members[name].read(), "")
            except BaseException as error:
                read.set_exception(error)
                parse.set_result(None)
                return
            if digests:
                digest = hasher.submit(_digest, content.data)
            else:  # (validating alone: a feed's identity is never asked for)
                digest = Future()
                digest.set_result("")

            def hashed(done: Future[str]) -> None:  # the file is read: its hash is in
                if done.exception() is not None:
                    read.set_exception(done.exception())
                else:
                    content.digest = done.result()
                    read.set_result(content)

            if lines is not None and is_utf8(encoding):
                # before `hashed` can hand the content over; a line hash is one Polars pass
                texts = _texts(content.data)
                content.lines = None if texts is None else line_hash(texts)
                if name in unparsed:  # (a file not parsed keeps its lines, to read by them)
                    content.texts = texts
                del texts
            before = lines.get(specs[name].file_name) if lines is not None else None
            same_lines = (
                content.lines is not None
                and before is not None
                and content.lines.len() == before.lines  # (most changed files: no sums)
                and summary(content.lines) == before
            )
            if name in unparsed and against is not None and not same_lines:
                # (a file of the same lines may be recalled whole: no stored record is read)
                content.delta = _by_lines(specs[name], content.texts, content.lines, against, name)
                content.delta_read = True
                content.texts = None  # (read: its changed lines are parsed, or it will be whole)
            digest.add_done_callback(hashed)
            # a file whose bytes may be the stored records' waits for its hash; any other
            # parses while its hash is taken. One of the last run's lines in another order is
            # not parsed either: a recall may follow (`warehouse.runs.recall`)
            if parse_unless is None or same_lines or name in unparsed:
                parse.set_result(None)
                return
            if (
                name in parse_unless
                and digest.exception() is None  # (a failed hash is the read's error)
                and parse_unless[name] == replace(content, digest=digest.result()).fingerprint
            ):
                parse.set_result(None)
                return
            try:
                parsed: ParsedCsv | Exception = _parse_file(
                    feed_name, specs[name], content.data, encoding
                )
            except Exception as error:  # raised once every file is parsed, in manifest order
                parsed = error
            digest.exception()  # (its bytes are hashed before they go)
            content.data = b""  # parsed: the bytes are no longer needed
            parse.set_result(parsed)

        def answered(name: str) -> None:
            """`load`, whose futures are settled whatever it raises: a reader waiting on a
            file must get its bytes or an error, never wait for ever."""
            try:
                load(name)
            except BaseException as error:
                for future in (self._read[name], self._parse[name]):
                    if not future.done():
                        future.set_exception(error)
                raise

        loading = [
            workers.submit(answered, name)
            for name in sorted(members, key=lambda name: -members[name].size)
        ]
        workers.shutdown(wait=False)  # its threads end with their last file

        def last_file_done(_: Future[None]) -> None:  # the hasher's once no worker can add to it
            if all(future.done() for future in loading):
                hasher.shutdown(wait=False)

        for future in loading:
            future.add_done_callback(last_file_done)

    def contents(self) -> dict[str, FileContent]:
        """Every file's bytes (or, parsed already, none) and digest; raises the error of the
        first unreadable file in manifest order, as reading them one by one would."""
        return {name: self._read[name].result() for name in self._names}

    def parsed(self) -> dict[str, ParsedCsv | Exception]:
        """The files parsed as they were read, each with its parse or the error it raised."""
        found = {name: self._parse[name].result() for name in self._names}
        return {name: parsed for name, parsed in found.items() if parsed is not None}


def _digest(data: bytes) -> str:
    return blake3(data).hexdigest()


def _by_lines(
    spec: FileSpec,
    texts: pl.Series | None,
    hashes: pl.Series | None,
    stored: Callable[[], StoredRecords],
    name: str,
) -> LineDelta | None:
    """A file of these lines (and their hashes) read against its stored records, once they
    are read."""
    if texts is None:
        return None
    try:
        records = stored().usable.get(name)
        if records is None:
            return None
        return read_by_lines(spec, texts, records, hashes)
    except Exception:  # (no known input raises) the caller reads the file by lines itself
        return None


def _texts(data: bytes) -> pl.Series | None:
    if compressed_as(data) is not None:
        # Polars would read the lines it inflates, the same as the last run's or changed ones
        # to apply, of a file the parse refuses: the file is parsed, and refused
        return None
    try:
        return line_texts(data)
    except Exception:  # (no known input raises) a file's lines unhashed only lose a recall
        return None


def _parse_file(feed_name: str, spec: FileSpec, data: bytes, encoding: str = UTF8) -> ParsedCsv:
    return _parsed(feed_name, data, spec.file_name, encoding)


def _parsed(feed_name: str, data: bytes, file_name: str, encoding: str) -> ParsedCsv:
    """A file parsed, or the one-line FeedError of a file that cannot be (the manifest's too)."""
    try:
        return parse_csv(data, file_name, encoding)
    except UnreadableFile as error:
        raise FeedError(f"{feed_name}: {error}") from None


def _member_issues(
    members: Mapping[str, _Member],
    modes: dict[str, str],
    manifest: dict[str, str],
    lines: dict[str, int],
    version: str,
) -> list[dict]:
    issues = []
    specs = SPECS_BY_VERSION[version]
    known = {spec.file_name: name for name, spec in specs.items()}
    lower_known = {file_name.lower(): file_name for file_name in known}
    for member in sorted(members):
        if member == MANIFEST_FILE:
            continue
        if member in known:
            # (a file whose mode is no mode is treated as absent too: its error says why)
            if manifest.get(f"file.{known[member]}", "").lower() == "absent":
                issues.append(
                    file_issue(
                        member,
                        "file.ignored",
                        "warning",
                        "the manifest marks this file absent; it is ignored",
                    )
                )
        elif member in ONEROSTER_12_FILES:
            issues.append(
                file_issue(
                    member,
                    "file.version",
                    "error",
                    (
                        f"a OneRoster 1.2 file in a feed whose manifest says OneRoster {version}; "
                        if manifest.get("oneroster.version") == version
                        else "a OneRoster 1.2 file in a feed read as OneRoster 1.1, its manifest "
                        "stating no version rosterflow reads; "
                    )
                    + "a 1.2 feed says oneroster.version 1.2",
                )
            )
        else:
            meant = lower_known.get(member.lower())
            said = f"not a OneRoster {version} file; ignored"
            if meant is not None and meant not in members:
                said += f"; file names are case-sensitive (did you mean {meant}?)"
            elif meant is not None:  # (renamed as meant, it would replace the file read)
                said = f"ignored: file names are case-sensitive, and {meant} beside it is " + (
                    "that file, which the manifest leaves absent"
                    if modes.get(known[meant], "absent") == "absent"
                    else "the one read"
                )
            issues.append(file_issue(member, "file.unknown", "warning", said))
    for name, mode in modes.items():
        file_name = specs[name].file_name
        if mode != "absent" and file_name not in members:
            issues.append(
                issue_row(
                    MANIFEST_FILE,
                    lines.get(f"file.{name}"),
                    f"file.{name}",
                    mode,
                    "manifest.file_missing",
                    "error",
                    f"the manifest marks {file_name} {mode} but the feed has no such file",
                )
            )
    return issues
