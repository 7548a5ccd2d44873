"""Where a tenant's warehouse is: one DuckDB file for every tenant (the default), or one file
per tenant when `--warehouse` is a template holding `{tenant}`, e.g. `wh/{tenant}.duckdb`.

DuckDB lets one process write a file at a time, so with one file every sync queues behind the
one running; with a file per tenant, districts sync at once (each file still has one writer:
the per-tenant concurrency limit of the Prefect deployment, and the file's own lock).

Ids stay unique across the files: every tenant of a layout is registered once, in order, in
the layout's registry (`<root>/.rosterflow-tenants/`, one small file per tenant, created with
an exclusive link so that two machines registering at once on shared storage get different
numbers), and tenant number n takes its ids and run ids above n << ID_BITS. A run id thus
names its tenant, and `approve`, `discard` and `undo` find the file of a run by its id alone.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import duckdb

from rosterflow.schemas.feed import FeedError
from rosterflow.schemas.printable import one_line
from rosterflow.warehouse.schema import (
    WarehouseError,
    connect,
    is_lock,
    lock_wait_seconds,
    locked_line,
    open_file,
)
from rosterflow.warehouse.seal import sealing

TENANT_FIELD = "{tenant}"
ID_BITS = 40  # 1.1e12 ids of each kind per tenant, 8.4 million tenants below 2**63
REGISTRY = ".rosterflow-tenants"
NAME_MAX = 255  # bytes in a file name, where the file system does not say (most say 255)
# what the longest name beside a warehouse file adds to its name: the seal's draft,
# `.<file>.seal-<8 random characters>` (`warehouse.seal`); DuckDB's `<file>.wal` is shorter
BESIDE_FILE = len(".") + len(".seal-") + 8


class LayoutError(WarehouseError):
    """The --warehouse template or the layout's registry is unusable (exit 2)."""


class TenantNameError(LayoutError, FeedError):
    """The tenant (the manifest's source.systemCode, or --tenant) makes a file name longer
    than the file system takes: no file of the layout can hold it (exit 2; the feed's fault,
    so the inbox files its zip as unreadable)."""


class TenantFileRefused(LayoutError):
    """The tenant's file of the layout is refused as it stands (a one-file warehouse copied in
    as the tenant's file, a file numbered by another registry, or one under the name it had
    before `_not_beside`): every sync of the tenant is refused alike until a person moves
    the file or puts the registry back (exit 2). Not the feed's fault, but no later scan
    could sync it either: the inbox files its zip under `rejected/`, announced once, rather
    than try it again at every scan as it does a zip that waits for a lock."""

    def __init__(self, message: str, tenant: str) -> None:
        super().__init__(message)
        self.tenant = tenant

    def __reduce__(self):
        # (a state's result may be pickled: the tenant goes with the message)
        return type(self), (str(self), self.tenant)


def is_layout(warehouse: str | Path) -> bool:
    """Whether `warehouse` is a per-tenant layout (a template naming `{tenant}`). A field that
    is `{tenant}` in other letters or spaces (`{Tenant}`) is refused: it would name one file,
    literally, and every tenant would sync into it."""
    text = str(warehouse)
    for field in re.findall(r"\{[^{}]*\}", text):
        if field != TENANT_FIELD and field[1:-1].strip().lower() == "tenant":
            raise LayoutError(
                f"--warehouse {text}: names the field {field}; a per-tenant layout names "
                f"{TENANT_FIELD}, in lowercase"
            )
    return TENANT_FIELD in text


class TenantSpellingError(TenantNameError):
    """The tenant is a tenant the warehouse knows, written in another Unicode form (`é` as one
    character or as `e` and a combining accent): synced, it would be a second tenant, with a
    copy of every record (exit 2; the feed's fault, as the name came with it)."""


def tenant_text(tenant: str) -> str:
    """A tenant's name as text, whichever Unicode form it was written in (composed, NFC): a
    macOS file name or a keyboard may decompose `é` where the SIS composed it. What tells one
    tenant from another among the inbox's chains and the Prefect concurrency limits."""
    return unicodedata.normalize("NFC", tenant)


def same_text(one: str, other: str) -> bool:
    """Whether two names are one text in two Unicode forms (canonically equivalent)."""
    return tenant_text(one) == tenant_text(other)


def _spelt_otherwise(tenant: str, known: str, where: str) -> TenantSpellingError:
    return TenantSpellingError(
        f"tenant {tenant!r} is tenant {known!r} of {where} in another Unicode form (written "
        f"{tenant!a}, and known as {known!a}): it is refused rather than synced as "
        "a second tenant with a copy of every record; give the tenant as it is known (the "
        "manifest's source.systemCode, or --tenant)"
    )


def tenant_file_name(tenant: str) -> str:
    """The tenant as one safe path component: percent-encoded, so that distinct tenants get
    distinct names and none can climb out of the layout (`..`, `/`)."""
    encoded = quote(tenant, safe="-_ @+=,")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


# what DuckDB and rosterflow write beside a warehouse file `<file>`: its log `<file>.wal`
# (and `.wal.checkpoint`, `.wal.recovery`), its temporary folder `<file>.tmp`, the seal
# `<file>.seal` (the seal's draft starts with a dot, which no tenant's file name does)
_BESIDE_DOT = re.compile(r"\.(?=(?:wal|tmp|seal)(?:[.-]|$))", re.IGNORECASE)


def _not_beside(name: str) -> str:
    """`name` with the dot before each word of a beside file's suffix percent-encoded, for a
    layout whose file name ends with the tenant (`wh/{tenant}`): there tenant `a.seal`'s file
    was tenant `a`'s seal, replaced by it at `a`'s every sync, and `a.wal` was read as `a`'s
    log. Every such dot, not the last alone: `a.tmp.wal` would be the log of `a.tmp`. Any
    case, as a file system that ignores case takes `a.SEAL` for `a.seal`."""
    return _BESIDE_DOT.sub("%2E", name)


@dataclass(frozen=True)
class Layout:
    """A `--warehouse` template with `{tenant}` in its file or folder names."""

    template: str

    def __post_init__(self) -> None:
        if not is_layout(self.template):
            raise LayoutError(f"--warehouse {self.template}: a layout names {TENANT_FIELD}")

    @property
    def root(self) -> Path:
        """The folder above the first path component that holds `{tenant}`."""
        fixed = []
        for part in Path(self.template).parts:
            if TENANT_FIELD in part:
                break
            fixed.append(part)
        return Path(*fixed) if fixed else Path(".")

    @property
    def registry(self) -> Path:
        return self.root / REGISTRY

    def path_for(self, tenant: str) -> Path:
        name = tenant_file_name(tenant)
        if self.template.endswith(TENANT_FIELD):
            name = _not_beside(name)
        return Path(self.template.replace(TENANT_FIELD, name))

    def usable_path(self, tenant: str) -> Path:
        """The tenant's file, there already or one that can be made: a TenantNameError when a
        name in its path would be longer than the file system takes (asked before anything is
        made or registered; a file there already is taken as it is). A tenant registered in
        another Unicode form is refused (TenantSpellingError), before its own file is made."""
        self.check_spelling(tenant)
        path = self.path_for(tenant)
        with suppress(OSError):  # (a name too long, say: then it is checked below)
            if path.exists():
                return path
        self._check_not_named_beside(tenant, path)
        parts = Path(self.template).parts
        for depth, part in enumerate(parts):
            if TENANT_FIELD not in part:
                continue
            made = path.parts[depth]
            room = BESIDE_FILE if depth == len(parts) - 1 else 0  # the file: its seal beside
            limit = _name_max(Path(*path.parts[:depth]) if depth else Path("."))
            if len(os.fsencode(made)) + room > limit:
                named = repr(tenant) if len(tenant) <= 40 else f"{tenant[:40]!r}…"
                raise TenantNameError(
                    f"tenant {named} ({len(tenant):,} characters): its warehouse file {path} "
                    f"cannot be made: a name of {len(os.fsencode(made)):,} bytes, where the "
                    f"file system takes {limit - room:,} at most (with room for the seal "
                    "beside it); give a shorter tenant (the manifest's source.systemCode, or "
                    "--tenant)"
                )
        return path

    def _check_not_named_beside(self, tenant: str, path: Path) -> None:
        """Refuse a tenant synced under the name its file had before `_not_beside` (`wh/a.seal`
        for tenant `a.seal`), which is still a warehouse: its next sync would start afresh in
        a new file, every record created again under new ids."""
        before = Path(self.template.replace(TENANT_FIELD, tenant_file_name(tenant)))
        if before == path or not _is_duckdb_file(before):
            return  # (another tenant's seal or log there: the name `a.seal` had beside `a`)
        raise TenantFileRefused(
            f"tenant {tenant!r}: its warehouse file is now {path}, and {before} is its file "
            "of before (a name that was the seal or log of another tenant's file beside it); "
            f"move {before} to {path}, then sync again",
            tenant,
        )

    def make_registry(self) -> None:
        try:
            self.registry.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LayoutError(
                f"{self.registry}: cannot create the tenant registry ({error})"
            ) from None

    def tenants(self) -> dict[str, int]:
        """Every registered tenant and its number (the lowest, should two machines have
        registered one tenant at the same moment, until the other removes its own)."""
        numbers: dict[str, int] = {}
        if not self.registry.is_dir():
            return numbers
        for entry in self.registry.iterdir():
            if not re.fullmatch(r"\d+", entry.name):
                continue  # a registration being written
            try:
                # bytes, not text: reading text turns a tenant's carriage return into a line
                # feed, another tenant, whose registration would never be found again
                tenant = entry.read_bytes().decode("utf-8")
            except FileNotFoundError:  # a duplicate registration, removed since the listing
                continue
            except OSError as error:
                # (a registration another account made, readable by it alone)
                raise LayoutError(
                    f"{entry}: cannot read the tenant registry ({error}); every account that "
                    "syncs or queries the layout needs to read it (chmod a+r)"
                ) from None
            number = int(entry.name)
            numbers[tenant] = min(number, numbers.get(tenant, number))
        return dict(sorted(numbers.items(), key=lambda item: item[1]))

    def register(self, tenant: str) -> int:
        """The tenant's number, registering it first if it has none."""
        known = self.tenants().get(tenant)
        if known is not None:
            return known
        self.make_registry()
        try:
            number = self._link_registration(tenant)
        except OSError as error:
            # a registry this user may not write (made by another account on shared
            # storage, say): the layout's fault, not the feed's, so the inbox keeps the zip
            # waiting rather than filing it as a failed sync that blamed the feed's files
            raise LayoutError(
                f"{self.registry}: cannot register tenant {tenant!r}, its first sync in the "
                f"layout ({error}); every machine and user that syncs needs to write the "
                "tenant registry"
            ) from None
        lowest = self.tenants()[tenant]
        if lowest != number:
            # another process registered the tenant at the same moment, under the lower
            # number both go by: ours is nobody's, and goes, so that each tenant has one
            with suppress(FileNotFoundError):
                os.unlink(self.registry / f"{number:08d}")
        return lowest

    def _link_registration(self, tenant: str) -> int:
        """Register `tenant` under the next free number, which it returns."""
        draft = self._draft(tenant)
        try:
            while True:
                taken = [int(e.name) for e in self.registry.iterdir() if e.name.isdigit()]
                number = max(taken, default=0) + 1
                try:
                    # a link fails if the name exists, atomically, also on NFS: the file
                    # appears whole under its number or not at all
                    os.link(draft, self.registry / f"{number:08d}")
                    return number
                except FileExistsError:
                    continue
        finally:
            os.unlink(draft)

    def _draft(self, tenant: str) -> Path:
        """A new file of the registry holding `tenant`, under a name no registration takes.
        Its mode is the umask's, as the tenants' warehouse files' are: a temporary file's
        (0600) let only the account that registered a tenant read it, and every other account
        sharing the layout (another machine's worker, an analyst's catalog) failed on it."""
        while True:
            draft = self.registry / f".new-{secrets.token_hex(8)}"
            try:
                handle = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        with os.fdopen(handle, "wb") as written:
            written.write(tenant.encode("utf-8"))
            written.flush()
            os.fsync(written.fileno())
        return draft

    def id_base(self, tenant: str) -> int:
        return self.register(tenant) << ID_BITS

    def files(self) -> dict[str, Path]:
        """The warehouse file of every registered tenant that has one, in registry order. A
        file that two tenants' names both lead to (`North` and `north` on a case-insensitive
        file system) is listed once, for the first: it holds that tenant only
        (`check_own_file`), and listed twice, the catalog would show each of its rows twice."""
        found: dict[str, Path] = {}
        seen: set[tuple[int, int]] = set()
        for tenant in self.tenants():
            path = self.path_for(tenant)
            try:
                status = path.stat()
            except OSError:  # no file (yet), or a name no file system takes
                continue
            if (status.st_dev, status.st_ino) not in seen:
                seen.add((status.st_dev, status.st_ino))
                found[tenant] = path
        return found

    def check_own_file(self, tenant: str, path: Path) -> None:
        """Refuse to give `tenant` a file that is another registered tenant's: a file system
        that ignores case (macOS, an SMB share) takes `North.duckdb` for `north.duckdb`, and
        the tenant would sync into the other's file, under its ids."""
        if not path.exists():
            return
        mine = path.stat()
        for other, theirs in self.files().items():
            status = theirs.stat()
            if other != tenant and (status.st_dev, status.st_ino) == (mine.st_dev, mine.st_ino):
                raise _shared_file(tenant, path, other)

    def check_spelling(self, tenant: str) -> None:
        """Refuse a tenant that is not registered as written but is in another Unicode form:
        its file name would differ (percent-encoded bytes), and it would be a tenant and a
        file of its own. One registered as written (both forms synced before this check
        existed) is left as it is."""
        registered = self.tenants()
        if tenant in registered:
            return
        known = next((name for name in registered if same_text(name, tenant)), None)
        if known is not None:
            raise _spelt_otherwise(tenant, known, f"the layout {self.template}")

    def tenant_of_run(self, run_id: int) -> str | None:
        number = run_id >> ID_BITS
        return next((t for t, n in self.tenants().items() if n == number), None)


def _is_duckdb_file(path: Path) -> bool:
    """Whether `path` is a DuckDB database file (its header's magic bytes)."""
    try:
        with path.open("rb") as file:
            return file.read(12)[8:12] == b"DUCK"
    except OSError:  # none there, a folder, or unreadable
        return False


def _name_max(folder: Path) -> int:
    """The longest file name, in bytes, that the file system of `folder` (or of the nearest
    folder above it that exists) takes."""
    for candidate in (folder, *folder.absolute().parents):
        try:
            return os.pathconf(candidate, "PC_NAME_MAX")
        except (OSError, ValueError):  # no such folder yet, or no answer: the one above
            continue
    return NAME_MAX


def tenant_warehouse(warehouse: str | Path, tenant: str) -> tuple[Path, int]:
    """The file that holds `tenant` and the base of its id range (0 in a one-file warehouse)."""
    if not is_layout(warehouse):
        return Path(warehouse), 0
    layout = Layout(str(warehouse))
    path = layout.usable_path(tenant)
    layout.check_own_file(tenant, path)  # before the tenant is registered
    _refuse_one_file_runs(layout, tenant, path)  # before too: a refusal leaves no trace
    return path, layout.id_base(tenant)


def _refuse_one_file_runs(layout: Layout, tenant: str, path: Path) -> None:
    """Refuse a file of the layout not yet claimed by a tenant (no `audit.id_space` row) that
    holds runs numbered below 2**ID_BITS: a one-file warehouse copied in as the tenant's file.
    Its ids and run ids start at 1, as every one-file warehouse's do, so two files copied in
    so would hold one id each for two rows (a query across tenants would join them), and
    `approve`, `discard` and `undo` of its runs would find no tenant by the ids. A file made
    before the first sync (accounts made by hand, no run) is synced into; a file claimed by
    a layout sync already (before this check) goes on as it is."""
    if not path.exists():
        return
    con = open_file(path, read_only=True)
    try:
        tables = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() "
                "where database_name = current_database() and schema_name = 'audit'"
            ).fetchall()
        }
        if "sync_runs" not in tables:
            return  # no rosterflow warehouse (yet): `connect` says what it is
        claimed = (
            "id_space" in tables
            and con.execute("select count(*) > 0 from audit.id_space").fetchone()[0]
        )
        first = con.execute(
            "select min(run_id), count(*) from audit.sync_runs where run_id < $floor",
            {"floor": 1 << ID_BITS},
        ).fetchone()
    finally:
        con.close()
    if claimed or first[0] is None:
        return
    raise TenantFileRefused(
        f"tenant {tenant!r}: its warehouse file {path} holds {first[1]:,} run(s) of a "
        f"one-file warehouse (run {first[0]} the first), numbered from 1 as in every one-file "
        f"warehouse, where the files of the layout {layout.template} number each tenant's "
        f"ids and run ids apart; a tenant of the layout starts from a file of its own: move "
        f"{path} out of the layout (keep syncing it as --warehouse {path}), or sync the "
        "tenant into the layout afresh",
        tenant,
    )


def _shared_file(tenant: str, path: Path, other: str) -> TenantNameError:
    return TenantNameError(
        f"tenant {tenant!r}: its warehouse file {path} is the file of tenant {other!r} (the "
        "file system takes both names for one file: it ignores case, say); give the tenant a "
        "name of its own (the manifest's source.systemCode, or --tenant)"
    )


def existing_tenant_warehouse(warehouse: str | Path, tenant: str) -> Path | None:
    """The file that holds `tenant`, if there is one (reading registers nothing)."""
    if not is_layout(warehouse):
        return Path(warehouse) if Path(warehouse).exists() else None
    path = Layout(str(warehouse)).usable_path(tenant)
    return path if path.exists() else None


class NoSuchRun(LayoutError):
    """No tenant file of the layout holds the run."""


def warehouse_of_run(warehouse: str | Path, run_id: int) -> Path:
    """The file that holds run `run_id` (in a layout, refused when no tenant's file could).

    A run numbered below 2**ID_BITS is a one-file warehouse's, in a file copied into the
    layout before a sync refused such files (`_refuse_one_file_runs`): `rosterflow runs`
    lists it, so the files are asked, and one that two files hold is refused, naming both,
    rather than decided in whichever file comes first. Files another process holds (other
    tenants' syncs) are waited for side by side (`while_each_locked`): one lock wait in all,
    not one per held file; one still held is a WarehouseError naming it, as the run might be
    in it."""
    if not is_layout(warehouse):
        return Path(warehouse)
    layout = Layout(str(warehouse))
    if 0 <= run_id < 1 << ID_BITS:
        files = layout.files()
        found, held = while_each_locked(
            {tenant: (path, partial(_holds_run, path, run_id)) for tenant, path in files.items()}
        )
        if held:  # (the first, in registry order, as a wait file after file found it)
            raise WarehouseError(next(iter(held.values())))
        holders = [files[tenant] for tenant, holds in found.items() if holds]
        if len(holders) > 1:
            raise LayoutError(
                f"run {run_id} is in {len(holders)} tenant files of {warehouse}, "
                f"{', '.join(str(path) for path in holders)}: files copied in from one-file "
                "warehouses, which number runs alike; give the file of the run's tenant as "
                "--warehouse"
            )
        if holders:
            return holders[0]
    tenant = layout.tenant_of_run(run_id)
    if tenant is None or not layout.path_for(tenant).exists():
        raise NoSuchRun(f"run {run_id}: no tenant file of {warehouse} has runs numbered so")
    return layout.path_for(tenant)


def _holds_run(path: Path, run_id: int) -> bool:
    """Whether the file holds run `run_id`; opened once, without waiting on another process's
    lock (the caller waits, `while_each_locked`)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select count(*) > 0 from audit.sync_runs where run_id = $run_id", {"run_id": run_id}
        ).fetchone()[0]
    except duckdb.CatalogException:  # no rosterflow warehouse: it holds no run
        return False
    finally:
        con.close()


# what names a file among the attempts (a tenant, an alias), and what its attempt gives
Key = TypeVar("Key")
Answer = TypeVar("Answer")


def while_each_locked(
    attempts: Mapping[Key, tuple[Path, Callable[[], Answer]]],
) -> tuple[dict[Key, Answer], dict[Key, str]]:
    """Each `attempt()` of a file, tried again while another process holds its file, the held
    files side by side: one lock wait (`ROSTERFLOW_LOCK_WAIT_SECONDS`) in all, where
    `while_locked` file after file would wait it out once per held file. The results, in the
    order of `attempts`, and a line per file still held at the end of the wait, naming it
    (as `while_locked` does). Any other DuckDB error is a WarehouseError naming its file.
    One thread: the wait is a `time.sleep` between rounds, which Ctrl-C ends."""
    waited = lock_wait_seconds()
    deadline = time.monotonic() + waited
    pause = 0.05
    results: dict[Key, Answer] = {}
    locked: dict[Key, str] = {}  # DuckDB's last words on each file still held
    pending = list(attempts)
    while True:
        for key in pending:  # a round over the files, never over rows
            path, attempt = attempts[key]
            try:
                results[key] = attempt()
            except duckdb.Error as error:
                if "Too many open files" in str(error):
                    raise WarehouseError(_too_many_files(len(attempts), path, error)) from None
                if not is_lock(error):
                    raise WarehouseError(f"{path}: cannot open the warehouse ({error})") from None
                locked[key] = str(error)
        pending = [key for key in pending if key not in results]
        if not pending or time.monotonic() + pause > deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    ordered = {key: results[key] for key in attempts if key in results}
    return ordered, {key: locked_line(attempts[key][0], locked[key], waited) for key in pending}


def open_files_needed(files: int) -> int:
    """The open files a process holding `files` warehouse files at once needs: each file and
    its WAL, and room for the rest of the process."""
    return 2 * files + 64


def _too_many_files(files: int, path: Path, error: duckdb.Error) -> str:
    """Why `files` files could not all be opened at once: this process's limit of open files,
    not the file it stopped at. The catalog holds each tenant's file (and its WAL) open."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (
        f"cannot open the {files} tenant files of the layout at once: this process may have "
        f"{soft} files open (ulimit -n), and stopped at {path} ({one_line(str(error))}); raise "
        f"the limit above the number of tenants, e.g. `ulimit -n {max(4096, open_files_needed(files))}` "
        "in the shell that runs rosterflow"
    )


@contextmanager
def open_warehouse(
    path: str | Path, tenant: str | None = None, seal_days: float = 0, existing: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, held open for the whole run: DuckDB lets one process write a file at a
    time, so nothing else can change the tenant between planning and applying. With `tenant`,
    `path` may be a per-tenant layout (`wh/{tenant}.duckdb`): the tenant's own file opens.
    With `seal_days` (a sync's `[safety] lms_check_days`), the lms summaries the file's seal
    vouches for are taken instead of scanned, and the file is sealed again when the block ends
    without an error (`warehouse.seal`). With `existing`, only a rosterflow warehouse there
    already opens (`schema.connect`): an operation on recorded runs creates nothing."""
    if tenant is not None and is_layout(path):
        file, base = tenant_warehouse(path, tenant)
        con = connect(file, id_space=(tenant, base), existing=existing)
        # the file's own word on whose it is and which ids it holds: two names of one file
        # that the registry cannot see (a tenant registered elsewhere, a link), or files
        # copied without the registry, numbered afresh in another order (the tenant's ids and
        # run ids would then be another file's, and a new tenant's could be this one's)
        owner = con.execute("select tenant, base from audit.id_space").fetchall()
        if owner and owner[0][0] != tenant:
            con.close()
            raise _shared_file(tenant, file, owner[0][0])
        if owner and owner[0][1] != base:
            con.close()
            raise TenantFileRefused(
                f"tenant {tenant!r}: its warehouse file {file} holds the ids the registry it "
                f"was synced with gave it, and this layout's registry {Layout(str(path)).registry} "
                "numbers the tenant otherwise (the files copied without the registry, a hidden "
                "folder?); put the registry the files were synced with beside them, so that ids "
                "and run ids stay unique across the files",
                tenant,
            )
    else:
        file = Path(path)
        con = connect(file, existing=existing)
        if tenant is not None:
            try:
                check_stored_spelling(con, tenant, file)
            except TenantSpellingError:
                con.close()
                raise
    with sealing(con, file, seal_days):
        yield con


def check_stored_spelling(con: duckdb.DuckDBPyConnection, tenant: str, file: Path) -> None:
    """Refuse a tenant with no run in the file when a tenant of the file is the same text in
    another Unicode form (TenantSpellingError): it would sync every record again as a second
    tenant. One with runs of its own (both forms synced before this check existed) is left as
    it is."""
    spellings = con.execute(
        """
        select distinct tenant
        from audit.sync_runs
        where nfc_normalize(tenant) = nfc_normalize($tenant)
        order by tenant = $tenant desc, tenant
        """,
        {"tenant": tenant},
    ).fetchall()
    if spellings and spellings[0][0] != tenant:
        raise _spelt_otherwise(tenant, spellings[0][0], f"the warehouse {file}")
