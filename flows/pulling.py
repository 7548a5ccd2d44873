"""`rosterflow pull` and `rosterflow sync URL`: a district's OneRoster REST API read as a feed.

`pull_feed` reads the roster (`sis.pull`) and `write_pulled` writes it, all or nothing: a pull
that fails writes no file, and the feed is written beside under a temporary name before it is
put in place. Pulled into a feed folder, it replaces that feed's OneRoster files and leaves
every other file of the folder alone.

A sync of a URL pulls into a temporary folder and syncs that folder as any feed, recorded in
audit with the URL as its feed name. With `[source] delta`, `pull_since` decides from audit
(`warehouse.pulls`) whether the pull may ask only for what changed: only when the tenant's
latest applied run was a pull of this very URL (not another feed, an undo or an approval, after
which lms is not what the pulls left), and the latest full pull is younger than
`full_pull_days`. The delta then asks for records changed after that run started, less
`delta_overlap_minutes`: a pulled feed's run starts when its pull began reading the API
(`Pulled.started_at`), so a record changed while the pull read is asked for again, and the
overlap is for a SIS whose clock runs behind this one; records sent twice change nothing.
Everything else pulls in full.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rosterflow.schemas.settings import Source
from rosterflow.schemas.spec import MANIFEST_FILE
from rosterflow.schemas.writer import FEED_FILE_NAMES
from rosterflow.sis.pull import Pulled, filter_since, pull
from rosterflow.warehouse.pulls import PullHistory


def feed_name(url: str, since: datetime | None) -> str:
    """What audit names a pulled feed: the base URL, and a delta's filter after it."""
    url = url.rstrip("/")
    return url if since is None else f"{url}?filter={filter_since(since)}"


@dataclass(frozen=True)
class PullChoice:
    since: datetime | None  # None: a full pull
    why: str  # in words, for the output


def pull_since(history: PullHistory, url: str, source: Source, now: datetime) -> PullChoice:
    """A delta's start, or a full pull, after the tenant's runs in `history` (`now`: UTC)."""
    url = url.rstrip("/")
    if not source.delta:
        return PullChoice(None, "a full pull ([source] delta is off)")
    latest = history.latest_feed
    if latest is None or not (latest == url or latest.startswith(url + "?filter=")):
        return PullChoice(None, "a full pull: the tenant's last applied run was no pull of it")
    if history.latest_approved:
        return PullChoice(None, "a full pull: the last run applied a held run's plan")
    full_at = _utc(history.full_started_at)
    if full_at is None or now - full_at >= timedelta(days=source.full_pull_days):
        return PullChoice(
            None, f"a full pull: the last was {source.full_pull_days}+ days ago ([source])"
        )
    since = _utc(history.latest_started_at) - timedelta(minutes=source.delta_overlap_minutes)
    return PullChoice(since, f"what changed since {since:%Y-%m-%d %H:%M:%S} UTC")


def _utc(moment: datetime | None) -> datetime | None:
    """audit's timestamps are UTC without a zone."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pull_feed(url: str, source: Source, since: datetime | None = None) -> Pulled:
    """The roster at `url` (a SisError, with one line, when it cannot be read whole)."""
    return pull(url, source, since=since)


def write_pulled(pulled: Pulled, out: Path) -> Path:
    """Write the pulled feed at `out` (a .zip, or a folder), once the whole roster was read
    and written beside under a temporary name. A zip, or a folder that was not there, is then
    put in place whole. A folder there already is written into only when it is a feed (it
    holds a manifest.csv) or empty: each of the new feed's files takes the place of the one
    of its name, the manifest last, and a OneRoster file of the last feed that the new one
    lacks goes; every other file or folder in it stays."""
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_FILE).is_file():
        raise FileExistsError(f"{out}: a folder that is not a feed; name another")
    if out.exists() and not out.is_dir() and out.suffix.lower() != ".zip":
        raise FileExistsError(f"{out}: a file that is not a zip; name another")
    if out.is_dir():
        _write_into(pulled, out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        os.replace(pulled.write(partial / out.name), out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


def _write_into(pulled: Pulled, folder: Path) -> None:
    """The feed written into an existing folder: first whole in a temporary folder inside it
    (the same file system, so each file then moves into place by a rename), then file by file
    over the last feed's, the manifest last; the folder's other files stay."""
    partial = Path(tempfile.mkdtemp(prefix=".rosterflow-pull.", dir=folder))
    try:
        written = pulled.write(partial / "feed")
        names = {path.name for path in written.iterdir()}
        for name in sorted(names - {MANIFEST_FILE}):
            os.replace(written / name, folder / name)
        for name in sorted(FEED_FILE_NAMES - names):
            with suppress(FileNotFoundError):
                (folder / name).unlink()
        os.replace(written / MANIFEST_FILE, folder / MANIFEST_FILE)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def pulled_summary(pulled: Pulled, why: str | None = None) -> str:
    """One line: what was read, how fast, `why` (a sync's: why the pull was full or changed
    records alone), what was left out, and an optional collection the server did not give
    (demographics), with its answer; `why` before those, which it does not explain."""
    counts = ", ".join(f"{count:,} {name}" for name, count in pulled.counts.items())
    rate = pulled.records / pulled.seconds if pulled.seconds else 0
    kind = "changed since " + filter_since(pulled.since)[18:-1] if pulled.since else "every record"
    dropped = "".join(
        f"; {count:,} {name} left out ({LEFT_OUT_WHY.get(name, 'not in the CSV binding')})"
        for name, count in pulled.left_out.items()
    ) + "".join(
        f"; warning: {name} not read ({why}): the feed has no {name}.csv"
        for name, why in pulled.not_read.items()
    )
    return (
        f"pulled {pulled.url} (OneRoster {pulled.version}, {kind}): {counts or 'no records'} "
        f"in {pulled.seconds:.1f} s ({rate:,.0f} records/s){f': {why}' if why else ''}{dropped}"
    )


# why the CSV binding cannot carry what a pull leaves out, per file
LEFT_OUT_WHY = {"userProfiles": "a profile without a credential, which no CSV row can carry"}
