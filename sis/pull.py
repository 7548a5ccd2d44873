"""Pull a district's roster from its OneRoster REST API as the frames of a CSV feed.

`pull(url, source)` reads orgs, academicSessions, courses, classes, users and enrollments,
and demographics when the API offers them (a 401, 403, 404, 405 or 501 there leaves them out,
the reason kept in `Pulled.not_read`; the same answer for another collection ends the pull),
all at once within the client's bound on requests in
flight, and returns the CSV files' frames (columns in spec order, all text), which
`schemas.writer` writes as a feed and the sync reads as it reads any export. A 1.2 API's users
bring roles.csv and userProfiles.csv with them.

With `since`, only what changed after it is asked for (`filter=dateLastModified>'…'`, to the
millisecond): the files are then marked `delta` (a record `tobedeleted` is removed, an empty
collection is `absent`: nothing changed there). Without it every file is `bulk`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import polars as pl

from rosterflow.schemas.settings import Source
from rosterflow.schemas.writer import write_feed
from rosterflow.sis.client import RetryPolicy, SisClient, source_policy
from rosterflow.sis.credentials import Credentials, credentials_for
from rosterflow.sis.endpoints import COLLECTIONS, Collection, version_of
from rosterflow.sis.errors import CredentialsRefused, StatusError
from rosterflow.sis.mapping import csv_rows, left_out, record_schema
from rosterflow.sis.pages import all_of, read_collection

# what a server answers for a collection it does not offer (401 and 403: the token not taken for
# it, a scope not granted); an optional collection so answered is left out, with a warning
NOT_OFFERED = frozenset({401, 403, 404, 405, 501})
# a file a delta keeps, empty, when the file it is read with changed: a 1.2 manifest must
# mark roles.csv as it marks users.csv, and a delta of users that are all removals (records
# of a sourcedId and a status, without roles) makes no roles rows
READ_WITH = {"roles": "users"}


@dataclass(frozen=True)
class Pulled:
    url: str
    version: str
    frames: dict[str, pl.DataFrame]  # OneRoster file -> its rows, as the CSV file has them
    modes: dict[str, str]  # each file of frames: bulk, or delta
    since: datetime | None = None  # what a delta asked for: changed after this
    seconds: float = 0.0
    not_offered: tuple[str, ...] = field(default=())  # optional collections the API lacks
    # per file, the records the CSV binding cannot carry (`sis.mapping.left_out`)
    left_out: dict[str, int] = field(default_factory=dict)
    # per optional collection not read, why: the line of the server's answer (`refusal`)
    not_read: dict[str, str] = field(default_factory=dict)
    # when the pull began reading the API (UTC): its sync's run starts then, so that the next
    # delta asks again for what changed while it read (`flows.steps.start_run`)
    started_at: datetime | None = None

    # per file, the rows `release_records` let go of (their frames are left empty)
    released: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Each file's records, those released too."""
        return {name: self.released.get(name, frame.height) for name, frame in self.frames.items()}

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    def release_records(self) -> None:
        """Let go of the rows once the feed is written (each frame left empty, its count kept):
        held through the sync of that feed, the roster was in memory twice, and `sync URL`
        took two fifths more than the sync of the same zip."""
        for name, frame in self.frames.items():
            self.released.setdefault(name, frame.height)
            self.frames[name] = frame.clear()

    def write(self, out: str | Path) -> Path:
        """The pulled roster as a OneRoster CSV feed with its manifest: a zip for a `.zip`
        name, else a folder."""
        return write_feed(
            out,
            self.frames,
            modes=self.modes,
            properties={"source.systemName": "OneRoster REST API"},
            version=self.version,
        )


def refusal(error: StatusError, *, delta: bool = False) -> StatusError:
    """A collection's request refused, with what the server said of it (a 403's missing
    scope, a 400's bad parameter) when that says more than the status's name; a delta's 400
    asks whether the server takes the filter at all."""
    line = str(error)
    if error.detail and error.detail.casefold() not in line.casefold():
        line += f" (the server said: {error.detail})"
    if delta and error.status == 400:
        line += (
            "; does the server take no filter=dateLastModified>…? Then pull in full ([source] "
            "delta = false, or no --since)"
        )
    return StatusError(line, error.status, error.detail)


def filter_since(since: datetime) -> str:
    """The REST binding's filter for records changed after `since` (UTC, to the millisecond)."""
    moment = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    return f"dateLastModified>'{moment.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z'"


def pull(
    url: str,
    source: Source | None = None,
    *,
    since: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Pulled:
    """The roster at the base URL `url`, read with the `[source]` settings (credentials from
    them or the environment); a `SisError` with one line when it cannot be read whole."""
    source = source or Source()
    version = version_of(url)
    credentials = credentials_for(source, version, environ)
    return asyncio.run(
        pull_roster(url, version, credentials, source, since, policy=policy, transport=transport)
    )


async def pull_roster(
    url: str,
    version: str,
    credentials: Credentials | None,
    source: Source,
    since: datetime | None = None,
    *,
    policy: RetryPolicy | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Pulled:
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    extra = {"filter": filter_since(since)} if since is not None else {}
    async with SisClient(
        credentials,
        concurrency=source.concurrency,
        policy=policy or source_policy(source),
        transport=transport,
    ) as client:
        not_read: dict[str, str] = {}

        async def one(
            collection: Collection,
        ) -> tuple[dict[str, pl.DataFrame], dict[str, int]] | None:
            schema = record_schema(collection.file, version)
            try:
                records = await read_collection(
                    client, url, collection, schema, source.page_size, extra
                )
            except StatusError as error:
                if collection.optional and error.status in NOT_OFFERED:
                    # demographics a server keeps to itself (a 401 or a 403 for a scope it did
                    # not grant) stop no roster: the feed is written without them, and said so
                    not_read[collection.file] = str(refusal(error))
                    return None
                if isinstance(error, CredentialsRefused):
                    raise  # its line says whose credentials, and what to set
                raise refusal(error, delta=since is not None) from None

            def mapped() -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
                return (
                    csv_rows(collection.file, version, records),
                    left_out(collection.file, version, records),
                )

            return await asyncio.to_thread(mapped)

        read = await all_of([one(c) for c in COLLECTIONS])
    frames: dict[str, pl.DataFrame] = {}
    dropped: dict[str, int] = {}
    for found in read:
        if found is not None:
            frames |= found[0]
            dropped |= found[1]
    not_offered = tuple(c.file for c, rows in zip(COLLECTIONS, read, strict=True) if rows is None)
    if since is not None:  # an empty delta file says nothing changed: the file is absent
        frames = {
            name: frame
            for name, frame in frames.items()
            if frame.height or frames.get(READ_WITH.get(name, ""), pl.DataFrame()).height
        }
    mode = "bulk" if since is None else "delta"
    return Pulled(
        url.rstrip("/"),
        version,
        frames,
        dict.fromkeys(frames, mode),
        since,
        time.perf_counter() - started,
        not_offered,
        dropped,
        not_read,
        started_at,
    )
