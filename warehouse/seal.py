"""The seal: proof that nothing wrote a warehouse file since a sync closed it, so the tenant's
lms summary (its row counts and hash sums, `state.lms_summary`) need not be read again.

Every sync proves lms holds what its last applied run left (a hand edit must be found and
reverted) with a checksum over every managed lms row: 0.14 s at 200,000 students, a tenth of a
1% change's resync. The seal proves the same for free when nothing wrote the file since:

- A sync, after its last write, checkpoints and takes the file's fingerprint while it still
  holds the file (`fingerprint`: its inode, size, and the times of its last write and last
  change, as `stat` reads them), then closes it and writes the seal beside it
  (`<file>.seal`): the fingerprint, and per tenant the lms summary as the session left it
  (read by a scan, or worked out from the rows the run wrote) and when it was last read by a
  scan.
- Every write to the file sets its change time, which no program can set back, and DuckDB
  keeps every committed write that is not checkpointed yet in the `<file>.wal` beside it. So
  a file of the sealed fingerprint, with no write-ahead log, is what the sync left: no hand
  edit, no other program, no other rosterflow command came between. The next sync takes the
  sealed summaries then, and scans otherwise. (The fingerprint is never read by opening the
  file: that would release DuckDB's lock on it, see `fingerprint`.)
- So whatever writes the file afterwards voids the seal, rosterflow's other commands (undo,
  approve, discard, grades runs) included, while a command or an analyst that opens the file
  and only reads keeps it valid (the inbox's look-ups, `rosterflow runs`). A sync removes the
  seal when it starts and writes it again only when it ends without an error: a run that dies
  leaves none.
- A summary read by a scan more than `[safety] lms_check_days` days ago is read again, which
  also checks the summaries the runs worked out in between; 0 reads it at every run, as before.

`--full` plans every record and reads the summary anew after applying. In-memory databases and
connections opened without `open_warehouse(..., seal_days=...)` are never sealed.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

SUFFIX = ".seal"


def seal_path(database: Path) -> Path:
    return database.with_name(database.name + SUFFIX)


def fingerprint(database: Path) -> str | None:
    """The file as the file system last recorded a write to it: its device, inode, size, and
    the times of its last write and last change (the kernel sets the change time at every
    write, and no program can set it back); None when the file cannot be sealed or trusted:
    it is missing, or a write-ahead log holds writes not yet checkpointed.

    Read by `stat`, never by opening the file: DuckDB holds its file by a POSIX lock, which
    the close of any other descriptor of the file in the same process releases. Reading the
    file's headers while a sync held it let a second process open the warehouse for writing
    beside the first (two runs of one tenant given one run id, one of them lost)."""
    wal = database.with_name(database.name + ".wal")
    try:
        if wal.exists() and wal.stat().st_size > 0:
            return None
        found = database.stat()
    except OSError:
        return None
    return ":".join(
        str(value)
        for value in (
            found.st_dev,
            found.st_ino,
            found.st_size,
            found.st_mtime_ns,
            found.st_ctime_ns,
        )
    )


@dataclass
class Sealed:
    """One tenant's lms summary as a session left it: per entity (rows, hash sum, active), and
    when a scan last read it (a summary worked out from a run's writes keeps its scan's time)."""

    summary: dict[str, tuple[int, int, int]]
    scanned_at: datetime


@dataclass
class Session:
    """What a sealed session knows of its file's tenants: those the seal it found vouched
    for, and those it read or wrote since (`pending` until their transaction commits)."""

    database: Path
    check_days: float  # a summary scanned longer ago is read again (`[safety] lms_check_days`)
    known: dict[str, Sealed] = field(default_factory=dict)
    pending: dict[str, Sealed | None] = field(default_factory=dict)
    in_transaction: bool = False
    found: str | None = None  # the seal it took when it began (one that vouched), as written

    def current(self, tenant: str) -> Sealed | None:
        """What the session knows of the tenant now, its open transaction included."""
        return self.pending[tenant] if tenant in self.pending else self.known.get(tenant)

    def learn(self, tenant: str, sealed: Sealed | None) -> None:
        """What the session knows of the tenant from now on (None: nothing); inside a
        transaction, once it commits."""
        if self.in_transaction:
            self.pending[tenant] = sealed
        elif sealed is None:
            self.known.pop(tenant, None)
        else:
            self.known[tenant] = sealed


_sessions: dict[int, Session] = {}


def _read_seal(database: Path, text: str | None) -> dict[str, Sealed]:
    """The tenants the seal beside `database` (`text`, as written) vouches for, if the file is
    as it was sealed."""
    if text is None:
        return {}
    try:
        found = json.loads(text)
        if found.get("fingerprint") != fingerprint(database) or found["fingerprint"] is None:
            return {}
        return {
            tenant: Sealed(
                {name: tuple(values) for name, values in state["summary"].items()},
                datetime.fromisoformat(state["scanned_at"]),
            )
            for tenant, state in found["tenants"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no seal, or one this rosterflow cannot read: scan


def begin(con: duckdb.DuckDBPyConnection, database: Path, check_days: float) -> None:
    """Once a sync holds `database` (so nothing else writes it meanwhile): take the tenants the
    seal vouches for into the session, and remove the seal (a session that dies leaves none)."""
    try:
        found = seal_path(database).read_text(encoding="utf-8")
    except (OSError, ValueError):
        found = None
    vouched = _read_seal(database, found)
    # a seal this account may not remove (another account's, in a folder with the sticky bit)
    # stays, vouching for nothing once the run writes the file (its fingerprint is another):
    # left in the way, it failed every sync, as if the feed could not be opened
    with suppress(OSError):
        seal_path(database).unlink()
    _sessions[id(con)] = Session(database, check_days, vouched, found=found if vouched else None)


def detach(con: duckdb.DuckDBPyConnection) -> Session | None:
    return _sessions.pop(id(con), None)


@contextmanager
def sealing(con: duckdb.DuckDBPyConnection, database: Path, check_days: float) -> Iterator[None]:
    """A sync's hold of `database` through `con`, which closes when the block ends: with
    `check_days` above 0 the seal is taken when the block starts (`begin`) and written again
    when it ends without an error (`finish`); an error leaves none."""
    if check_days > 0:
        begin(con, database, check_days)
    try:
        yield
    except BaseException:
        session = detach(con)
        con.close()
        if session is not None:
            _put_back(session)
        raise
    session = detach(con)
    if session is None:
        con.close()
    else:
        finish(con, session)


def finish(con: duckdb.DuckDBPyConnection, session: Session) -> None:
    """After the session's last write, with `con` still open: checkpoint, read the headers,
    close, and write the seal if the file is still what was read (nothing can write it while
    it is held; a write after the close changes the headers)."""
    try:
        # fails while another connection of this process is writing: then no seal
        con.execute("checkpoint")
    except duckdb.Error:
        con.close()
        return
    held = fingerprint(session.database)
    con.close()
    if held is None or fingerprint(session.database) != held or not session.known:
        return
    state = {
        "fingerprint": held,
        "tenants": {
            tenant: {"summary": sealed.summary, "scanned_at": sealed.scanned_at.isoformat()}
            for tenant, sealed in session.known.items()
        },
    }
    _write_seal(seal_path(session.database), json.dumps(state), session.database)


def _put_back(session: Session) -> None:
    """After a session that ended in an error, with its file closed: the seal it removed goes
    back when the file is still what that seal vouched for (the run stopped before it wrote
    anything, an unreadable feed say), so that a run that changed nothing leaves the warehouse
    exactly as it found it. A file written since has other headers: no seal then."""
    if session.found is None:  # (a seal it took vouched for the file: its fingerprint is one)
        return
    if fingerprint(session.database) == json.loads(session.found)["fingerprint"]:
        _write_seal(seal_path(session.database), session.found, session.database)


def _write_seal(target: Path, text: str, database: Path) -> None:
    """`text` as the seal `target`, whole or not at all, readable by whoever may read the
    `database` it vouches for: a temporary file is its owner's alone (0600), and a per-tenant
    layout's files are shared by workers under other accounts (docs/how-to/per-tenant.md),
    whose syncs could not read it and scanned every lms row again."""
    with tempfile.NamedTemporaryFile(
        "w", dir=target.parent, prefix=f".{target.name}-", delete=False, encoding="utf-8"
    ) as draft:
        draft.write(text)
    with suppress(OSError):  # (the database gone meanwhile: the seal stays its owner's)
        os.chmod(draft.name, stat.S_IMODE(database.stat().st_mode) & 0o666)
    try:
        os.replace(draft.name, target)
    except OSError:  # (another account's seal in a sticky folder: no seal, a full check)
        with suppress(OSError):
            os.unlink(draft.name)


def vouched_summary(
    con: duckdb.DuckDBPyConnection, tenant: str
) -> dict[str, tuple[int, int, int]] | None:
    """The tenant's lms summary as the session knows it, unless a scan is due; None: scan."""
    session = _sessions.get(id(con))
    if session is None:
        return None
    sealed = session.current(tenant)
    if sealed is None or _now() - sealed.scanned_at > timedelta(days=session.check_days):
        return None
    return sealed.summary


def note_summary(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    summary: Mapping[str, tuple[int, int, int]],
    scanned_at: datetime | None = None,
) -> None:
    """The tenant's lms summary as it is now in the session: read by a scan (`scanned_at`
    now), or worked out from a run's writes (`scanned_at`: the scan it was worked out from)."""
    session = _sessions.get(id(con))
    if session is None:
        return
    session.learn(tenant, Sealed(dict(summary), scanned_at or _now()))


def scanned_at(con: duckdb.DuckDBPyConnection, tenant: str) -> datetime | None:
    """When the summary the session holds of the tenant was last read by a scan."""
    session = _sessions.get(id(con))
    if session is None:
        return None
    sealed = session.current(tenant)
    return None if sealed is None else sealed.scanned_at


def forget(con: duckdb.DuckDBPyConnection, tenant: str) -> None:
    """The session is about to write the tenant's lms rows: what it knew of them no longer
    holds (until the writes are summed up again)."""
    session = _sessions.get(id(con))
    if session is not None:
        session.learn(tenant, None)


@contextmanager
def tracking(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Around a transaction: what the session learns inside it holds once it commits, and is
    dropped if it rolls back."""
    session = _sessions.get(id(con))
    if session is None or session.in_transaction:
        yield
        return
    session.in_transaction = True
    try:
        yield
    except BaseException:
        session.pending.clear()
        raise
    finally:
        session.in_transaction = False
    committed, session.pending = session.pending, {}
    for tenant, sealed in committed.items():
        session.learn(tenant, sealed)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
