"""PUT a gradebook's records to a SIS's OneRoster gradebook API, one request each, and keep what
the SIS answered.

`put_records` sends the records of one file (categories, lineItems or results), each its body
already encoded as JSON (`transforms.gradebook_push`), to `<base>/<file>/<sourcedId>` through a
`SisClient`: at most `concurrency` in flight, each retried as the client retries (408, 429, 5xx,
timeouts, dropped connections; `Retry-After` honoured).

- A 2xx is the record acknowledged: `sent`.
- A 4xx the record itself earned (400 or 422 invalid, 403 locked, 404 unknown, 409 conflict) is
  `refused`, with the status and what the SIS said, and the other records go on.
- What no record can mend stops the push: the API unreachable, or still answering 5xx, 408, 425
  or 429 after the retries, the credentials refused (401), no PUT at that URL (405: no gradebook
  service there), a redirect (the client follows none), or a web page (`text/html` with a
  tag, whatever its status: a 200 from a site's front page acknowledges nothing). The requests in flight are
  let finish (no record is taken after), and `PushStopped` says why in one line and carries
  what the SIS answered: only what it acknowledged counts as sent. A record a try of whose
  PUT may have reached the SIS and got no answer (a timeout, a dropped connection, a 504
  Gateway Timeout), whatever the later tries got, is `unanswered`: the SIS may hold it as
  sent, and may not, so the next push sends it again whatever the platform holds then
  (`warehouse.gradebook.with_acknowledged`). So is one whose last try the SIS refused with
  a 4xx of the record's own (a 409, the record being there already), and the push goes on.
- A push whose every PUT was answered 404, none acknowledged, to a URL that holds none of
  its records yet, went to no gradebook service (a wrong base URL): `not_a_gradebook_service`
  says so, and the push stops (`flows.pushing`); a 404 among records acknowledged, or where
  earlier pushes were, is that record's refusal.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

import polars as pl

from rosterflow.schemas.gradebook import REFUSED_RETRY
from rosterflow.sis.client import (
    RETRIED_STATUSES,
    SisClient,
    naming_unanswered,
    unanswered_before,
    web_page,
)
from rosterflow.sis.errors import SisError, StatusError

# what the SIS answered to each record PUT
ANSWER_SCHEMA: dict[str, pl.DataType] = {
    "sourcedId": pl.String(),
    "status": pl.Int64(),
    "outcome": pl.String(),  # sent | refused | unanswered (may be stored: no answer came)
    # a refusal's: what the SIS said, else the status's phrase; unanswered: why the push
    # stopped, or the refusal of its retry (`schemas.gradebook.REFUSED_RETRY`)
    "reason": pl.String(),
}
# a 4xx that says nothing of the record: the push itself cannot go on
STOPPING = frozenset({401, 405}) | RETRIED_STATUSES
# a status that, answered to every PUT of a push with none acknowledged, says the URL is wrong
NO_SERVICE = 404
GIVE_GRADEBOOK_BASE = "give the base URL of the SIS's gradebook service"


class PushStopped(SisError):
    """The push could not go on (the message says why, naming the URL); `answered` is what
    the SIS answered before (`ANSWER_SCHEMA`)."""

    def __init__(self, message: str, answered: pl.DataFrame) -> None:
        super().__init__(message)
        self.answered = answered


def refusal(status: int) -> bool:
    """Whether an HTTP status refuses one record, and the push goes on."""
    return 400 <= status < 500 and status not in STOPPING


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def web_page_answered(url: str, status: int) -> str:
    """The line saying `url` answered a web page, not the API."""
    return (
        f"{url}: HTTP {status} {_phrase(status)} with a web page (text/html), not a OneRoster "
        f"API's answer: no gradebook service there; {GIVE_GRADEBOOK_BASE}"
    )


def not_a_gradebook_service(base_url: str, answered: pl.DataFrame) -> str | None:
    """The line saying the push went to no gradebook service, when the SIS answered every
    record PUT so far (`answered`: `sourcedId, status, outcome`; a record held back has no
    status) with 404 and acknowledged none; else None."""
    requested = answered.filter(pl.col("status").is_not_null())
    if requested.is_empty() or not requested["status"].eq(NO_SERVICE).all():
        return None
    count = "the one record" if requested.height == 1 else f"all {requested.height:,} records"
    return (
        f"{base_url.rstrip('/')}: HTTP {NO_SERVICE} {_phrase(NO_SERVICE)} to {count} PUT, none "
        f"acknowledged: no gradebook service there; {GIVE_GRADEBOOK_BASE}"
    )


def unanswered(error: SisError) -> bool:
    """Whether the PUT that stopped with `error` may have reached the SIS and been stored
    without its answer coming back: a try of it answered 504 Gateway Timeout, or timed out
    or lost its connection once sent (`SisError.unanswered`), whatever a later try got (a
    503 of a SIS overloaded since). A status the SIS itself answered every try (a 503, a 401)
    says it did not take the record, and the token's request is no record's."""
    return error.unanswered is not None and error.unanswered.method == "PUT"


def _answered(rows: list[tuple[str, int | None, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ANSWER_SCHEMA, orient="row")


async def put_records(
    client: SisClient, base_url: str, file: str, records: pl.DataFrame, concurrency: int
) -> pl.DataFrame:
    """PUT each record (`sourcedId, body`) at `<base_url>/<file>/<sourcedId>`; what the SIS
    answered to each (`ANSWER_SCHEMA`), or `PushStopped`. The sourcedIds are safe in a URL
    (`schemas.gradebook`)."""
    base = f"{base_url.rstrip('/')}/{file}/"
    pending = records.select("sourcedId", "body").iter_rows()  # one request each: no frame op
    rows: list[tuple[str, int | None, str, str | None]] = []
    stops: list[SisError] = []  # what stopped the push, in the order it came

    async def put(sourced_id: str, body: str) -> None:
        try:
            response = await client.put(base + sourced_id, body)
        except StatusError as error:
            if error.status == 405:
                # (with the try before it a 504 got, say: the record may be stored)
                raise naming_unanswered(
                    SisError(
                        f"{error}: the API takes no PUT there; give the base URL of its "
                        "gradebook service"
                    ),
                    error.unanswered,
                ) from None
            if not refusal(error.status):
                raise
            if error.web_page:
                # a site's "not found" or "forbidden" page: no API's word on the record
                raise naming_unanswered(
                    SisError(web_page_answered(base + sourced_id, error.status)), error.unanswered
                ) from None
            said = error.detail or _phrase(error.status)
            if unanswered(error):
                # the SIS refused a retry (a 409 for the record it stored), not the try before,
                # which it may have stored: the next push sends the record again
                rows.append((sourced_id, error.status, "unanswered", f"{said}{REFUSED_RETRY}"))
            else:
                rows.append((sourced_id, error.status, "refused", said))
            return
        # the client answers 2xx alone: a redirect is a StatusError (never followed), and
        # so the record is not stored there
        if web_page(response):
            # a site's page (a catch-all front page, a sign-in form) says 200 to anything:
            # counted as sent, the record would never be sent again
            raise naming_unanswered(
                SisError(web_page_answered(base + sourced_id, response.status_code)),
                unanswered_before(response),
            )
        rows.append((sourced_id, response.status_code, "sent", None))

    async def worker() -> None:
        for sourced_id, body in pending:  # the workers share the one iterator
            if stops:
                return
            try:
                await put(sourced_id, body)
            except SisError as error:
                # the requests in flight are let finish, not cancelled: a PUT cancelled once
                # sent may be stored by the SIS, and only an answer says whether it was
                stops.append(error)
                if unanswered(error):
                    status = error.status if isinstance(error, StatusError) else None
                    rows.append((sourced_id, status, "unanswered", str(error)))

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, records.height)):
            group.create_task(worker())
    if stops:
        raise PushStopped(str(stops[0]), _answered(rows))
    return _answered(rows)
