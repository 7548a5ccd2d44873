"""`rosterflow grades push URL`: the platform's gradebook sent to the SIS's gradebook API.

`plan_push` reads the tenant's gradebook as an export does (`transforms.gradebook`), makes
each record to send its JSON (`transforms.gradebook_push`), and asks the warehouse which ones
the SIS already holds as they are now (`warehouse.gradebook.with_acknowledged`: the hash of
the body it last acknowledged). `send_plan` PUTs the others through one `SisClient`:
categories, then line items, then results, each file once the one before is answered; a
record whose category or line item the SIS did not accept is held back. A push to a URL that
holds none of the records yet whose every PUT was answered 404 stops after that file: the URL
is no gradebook service (`sis.push.not_a_gradebook_service`). The push is then
recorded (`warehouse.gradebook.record_grades_run`): what the SIS acknowledged is what the next
push compares with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx2
import polars as pl

from rosterflow.schemas.gradebook import PUSH_OUTCOME_SCHEMA
from rosterflow.schemas.settings import Source
from rosterflow.sis.client import RetryPolicy, SisClient, source_policy
from rosterflow.sis.credentials import credentials_for
from rosterflow.sis.endpoints import gradebook_version_of, push_scopes
from rosterflow.sis.push import PushStopped, not_a_gradebook_service, put_records
from rosterflow.transforms.gradebook import gradebook
from rosterflow.transforms.gradebook_push import (
    HASHED,
    answers,
    changed,
    push_records,
    request_bodies,
    split_held,
)

ANSWERED_SCHEMA = PUSH_OUTCOME_SCHEMA | {HASHED: pl.String()}


@dataclass(frozen=True)
class PushPlan:
    """What a push will send: per OneRoster file, in the order sent, every record of the
    gradebook with its hash and whether the SIS holds it already (`acknowledged`)."""

    url: str  # the gradebook's base URL, without a trailing slash
    version: str
    records: dict[str, pl.DataFrame]
    exclusions: pl.DataFrame  # schemas.gradebook.EXCLUSION_SCHEMA: not sent at all
    full: bool = False  # send every record, held already or not
    # the SIS at `url` acknowledged records of the tenant's before: a 404 now is a record's
    # own refusal, never a wrong URL (`--full` sends those records again too)
    acknowledged_before: bool = False

    def to_send(self, name: str) -> pl.LazyFrame:
        return changed(self.records[name].lazy(), self.full)

    @property
    def unchanged(self) -> int:
        """Records not sent, as the SIS holds them already."""
        if self.full:
            return 0
        return sum(int(frame["acknowledged"].sum()) for frame in self.records.values())


def plan_push(
    con, tenant: str, url: str, inputs: Mapping[str, pl.LazyFrame], full: bool = False
) -> PushPlan:
    """The push of the tenant's gradebook (`inputs`: `warehouse.gradebook.gradebook_inputs`)
    to the gradebook API at `url`."""
    from rosterflow.warehouse.gradebook import acknowledged_before, with_acknowledged

    version = gradebook_version_of(url)
    destination = url.rstrip("/")
    book = gradebook(**inputs)
    files = push_records(book, version)
    *records, exclusions = pl.collect_all([*files.values(), book.exclusions])
    return PushPlan(
        destination,
        version,
        {
            name: with_acknowledged(con, tenant, destination, frame)
            for name, frame in zip(files, records, strict=True)
        },
        exclusions,
        full,
        acknowledged_before(con, tenant, destination),
    )


def modified_text(moment: datetime) -> str:
    """A push's moment as the records' dateLastModified: `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def send_plan(
    plan: PushPlan,
    source: Source,
    modified: str,
    *,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> pl.DataFrame:
    """PUT what the plan sends, file after file, with the credentials `source` and the
    environment give; what the SIS answered to each record, and those held back
    (`ANSWERED_SCHEMA`; a record whose try got no answer and whose retry the SIS refused is
    `unanswered`, `sis.push.put_records`). `PushStopped` (whose `answered` holds the same for
    what was answered before, and the records whose PUT may have reached the SIS unanswered:
    `sis.push.unanswered`) when it cannot go on; a `SisError` before any record was sent.
    With nothing to send, the SIS is not called at all."""
    scopes = source.push_scopes or push_scopes(plan.version)
    credentials = credentials_for(source, plan.version, environ, scopes)
    answered = pl.DataFrame(schema=ANSWERED_SCHEMA)
    pending = {name: plan.to_send(name).collect() for name in plan.records}
    if not any(frame.height for frame in pending.values()):
        return answered
    async with SisClient(
        credentials,
        concurrency=source.concurrency,
        policy=policy or source_policy(source),
        transport=transport,
    ) as client:
        for name, records in pending.items():
            ready, held = (
                frame.collect() for frame in split_held(records.lazy(), answered.lazy(), name)
            )
            bodies = request_bodies(ready.lazy(), modified).collect()
            try:
                put = await put_records(client, plan.url, name, bodies, source.concurrency)
            except PushStopped as stopped:
                before = answers(ready.lazy(), stopped.answered.lazy()).collect()
                raise PushStopped(str(stopped), pl.concat([answered, held, before])) from None
            answered = pl.concat([answered, held, answers(ready.lazy(), put.lazy()).collect()])
            # a wrong base URL answers 404 to everything: stopped after the first file so
            # answered, not refused record by record (exit 1) and recorded as refusals. Where
            # the SIS holds records of earlier pushes the URL was right, and a 404 is the
            # record's own refusal
            wrong_url = not_a_gradebook_service(plan.url, answered)
            if wrong_url is not None and not plan.acknowledged_before:
                raise PushStopped(wrong_url, answered)
    return answered


def send(plan: PushPlan, source: Source, modified: str, **options) -> pl.DataFrame:
    """`send_plan`, run to its end."""
    return asyncio.run(send_plan(plan, source, modified, **options))
