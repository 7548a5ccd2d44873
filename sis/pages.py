"""One collection of a OneRoster API read page by page into one frame, or refused.

Paging as the REST binding has it: `limit` and `offset` are sent; when the server sends a
`Link` header with `rel="next"` (RFC 8288's forms: any case, among other rels), that link is
followed, and a page with links but no next is the last; otherwise `X-Total-Count` says how
many records there are, and the remaining pages are asked for at once (within the client's
bound), a window of them at a time up to a short one (so are they when the next link is the
binding's own next offset, with a total: `_offset_link`); otherwise pages are read until a
short one. A body is read in the charset its answer names; one that is no JSON object (a
maintenance page with status 200) is refused, naming its status and content type, but for an
empty 200 or 204 to a request with a filter, which 1EdTech has a server answer where no record
matches it (a delta's collection where nothing changed): no records. A server
may answer with fewer records than `limit` asked (they cap it differently): the first page's
length is then the step, and without a total one more page is asked for to tell a capped page
from the last one.

The pages must make one snapshot: a total that changes between pages, a page that repeats
another (a server ignoring `offset`), a next link back to a page already read, a page without
records whose next link leads on to records, a sourcedId twice, or pages that add up to
another count than the total, refuse the pull. So does a next link to another origin
(scheme, host or port) than the base URL's: the credentials go with every request, and the
roster is the base URL's server's alone.
"""

from __future__ import annotations

import asyncio
import codecs
import io
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
import polars as pl

from rosterflow.sis.client import SisClient
from rosterflow.sis.endpoints import Collection
from rosterflow.sis.errors import InconsistentPull, SisError

T = TypeVar("T")

# pages asked for at once when X-Total-Count says how many there are (the client's own bound
# keeps fewer in flight): a total a server gets wrong is read in windows, never all at once
TOTAL_WINDOW = 32
UTF8_BOM = codecs.BOM_UTF8
# (BOM, codec) of the other encodings RFC 4627 allowed for JSON, longest first
UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# one link-value of a Link header (RFC 8288 §3): <URI> and its parameters, quoted ones
# whole (a comma or a semicolon inside a quoted title is no separator)
_LINK_VALUE = re.compile(
    r"""<([^>]*)>((?:\s*;\s*[^\s;,=]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^;,]*))?)*)"""
)
_LINK_PARAM = re.compile(r""";\s*([^\s;,=]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^;,]*))?""")


class FieldMisfit(SisError):
    """A page refused for a field of another shape than the JSON binding gives it; `fits` is
    the record schema of that field alone (within the objects around it), which a record
    holding the field in its shape decodes with, and the record at fault does not."""

    def __init__(self, message: str, fits: pl.Struct) -> None:
        super().__init__(message)
        self.fits = fits


@dataclass(frozen=True)
class Page:
    url: str  # the request's URL, as messages show it
    records: pl.DataFrame
    total: int | None  # X-Total-Count
    next_url: str | None  # Link rel="next", absolute
    linked: bool = False  # the answer had a Link header, whatever its rels


def decode_page(body: bytes, keys: tuple[str, ...], schema: pl.Struct, url: str) -> pl.DataFrame:
    """A page's records, decoded by Polars with `schema` (fields it does not name are
    skipped), from the list under the first of `keys` the body has. A field of another shape
    than the JSON binding's is a `FieldMisfit` naming it, which `read_page` completes with
    the record that holds it (`misfit_record`)."""
    try:
        wrapped = pl.read_json(io.BytesIO(body), schema={key: pl.List(schema) for key in keys})
    except (pl.exceptions.PolarsError, ValueError) as error:
        try:  # (only once Polars refused it: a body read whole costs a copy)
            body.decode()
        except UnicodeDecodeError as undecoded:
            raise SisError(
                f"{url}: the JSON body is not UTF-8 (byte 0x{body[undecoded.start]:02x} at "
                f"{undecoded.start:,}) and its Content-Type names no charset"
            ) from None
        misfit = _misfit(body, keys, schema)
        if misfit is not None:
            raise FieldMisfit(f"{url}: {misfit[0]}", misfit[1]) from None
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SisError(f"{url}: not a OneRoster JSON list ({reason})") from None
    present = [key for key in keys if wrapped.height and wrapped[key][0] is not None]
    if not present:
        raise SisError(f"{url}: the JSON body has no list under {' or '.join(keys)}")
    records = wrapped.select(present[0])
    if records[present[0]].list.len()[0] == 0:
        return pl.DataFrame(schema=schema.to_schema())
    records = records.explode(present[0]).unnest(present[0])
    ids = records["sourcedId"]
    if ids.null_count() or (ids == "").any():
        first = (ids.is_null() | (ids == "")).arg_true()[0]
        raise SisError(f"{url}: a record without a sourcedId (record {first + 1:,} of the page)")
    return records


# a field no record has: it decodes wherever the shape around it is right
_NO_FIELD = pl.Struct({"\x00": pl.String})


def _misfit(body: bytes, keys: tuple[str, ...], schema: pl.Struct) -> tuple[str, pl.Struct] | None:
    """Why Polars refused a page that is JSON, in words: the first field whose value is not
    of the shape the JSON binding gives it (a plain sourcedId where a reference goes, say),
    found by decoding the page a field at a time, into a list or an object when the field
    itself has the right shape (`roles[].org`), with the record schema of that field alone
    (`FieldMisfit.fits`); None when no one field is to blame (the list is no list of
    objects). The page was refused as 'not a OneRoster JSON list (error deserializing value
    "String("crs-1")" as struct.)', naming no field."""

    def refused(record: pl.Struct) -> str | None:
        try:
            pl.read_json(io.BytesIO(body), schema={key: pl.List(record) for key in keys})
        except (pl.exceptions.PolarsError, ValueError) as error:
            return str(error)
        return None

    if refused(_NO_FIELD) is not None:
        return None
    return _misfit_in(refused, schema, lambda record: record, "")


def _misfit_in(
    refused: Callable[[pl.Struct], str | None],
    record: pl.Struct,
    within: Callable[[pl.Struct], pl.Struct],
    path: str,
) -> tuple[str, pl.Struct] | None:
    """`_misfit` in the fields of `record`, a record's own or those of an object inside it
    (`within` puts a record of one field back where `record` stands; `path` names it)."""
    for field in record.fields:
        alone = within(pl.Struct([field]))
        reason = refused(alone)
        if reason is None:
            continue
        inner, listed = field.dtype, False
        while isinstance(inner, pl.List):
            inner, listed = inner.inner, True

        def inside(one: pl.Struct, field: pl.Field = field) -> pl.Struct:
            return within(pl.Struct([pl.Field(field.name, _replaced(field.dtype, one))]))

        if isinstance(inner, pl.Struct) and refused(inside(_NO_FIELD)) is None:
            deeper = _misfit_in(
                refused, inner, inside, f"{path}{field.name}{'[]' if listed else ''}."
            )
            if deeper is not None:
                return deeper
        return (
            f"a record's {path}{field.name} holds {_sent(reason)}, where the OneRoster JSON "
            f"binding has {_shape(field.dtype)}",
            alone,
        )
    return None


def misfit_record(body: bytes, keys: tuple[str, ...], fits: pl.Struct) -> str | None:
    """Which record of a page holds a field of another shape (`FieldMisfit`): its place in
    the page and its sourcedId, found by decoding ever shorter runs of the page's first
    records with `fits`; None when no record alone is refused. Only a page already refused
    is read so, record by record as Python objects."""
    try:
        document = json.loads(body.removeprefix(UTF8_BOM))
    except ValueError:
        return None
    found = (
        next((key for key in keys if isinstance(document.get(key), list)), None)
        if isinstance(document, dict)
        else None
    )
    if found is None:
        return None
    records = document[found]

    def decodes(count: int) -> bool:
        head = json.dumps({found: records[:count]}).encode()
        try:
            pl.read_json(io.BytesIO(head), schema={found: pl.List(fits)})
        except (pl.exceptions.PolarsError, ValueError):
            return False
        return True

    # the first `fitting` records decode, the first `refused` do not
    fitting, refused = 0, len(records)
    if decodes(refused):
        return None
    while refused - fitting > 1:
        middle = (fitting + refused) // 2
        fitting, refused = (middle, refused) if decodes(middle) else (fitting, middle)
    record = records[refused - 1]
    sourced_id = record.get("sourcedId") if isinstance(record, dict) else None
    named = f", sourcedId {sourced_id!r}" if isinstance(sourced_id, str | int) else ""
    return f"record {refused:,} of the page{named}"


def _replaced(dtype: pl.DataType, record: pl.Struct) -> pl.DataType:
    """`dtype` with the object inside its lists (or itself, an object) made `record`."""
    return pl.List(_replaced(dtype.inner, record)) if isinstance(dtype, pl.List) else record


def _shape(dtype: pl.DataType) -> str:
    """A field's shape in the JSON binding, as JSON: `{"sourcedId": …}` for a reference."""
    if isinstance(dtype, pl.List):
        return f"[{_shape(dtype.inner)}, …]"
    if isinstance(dtype, pl.Struct):
        return "{" + ", ".join(f'"{field.name}": …' for field in dtype.fields) + "}"
    return "text"


# the kind of JSON value Polars names in its message (`value "String("crs-1")" as struct`)
_SENT = re.compile(r'value "(?P<kind>[A-Za-z]+)\((?P<inner>.*)\)" as ')
_KINDS = {"String": "text", "Object": "an object", "Array": "a list", "Static": "a number"}


def _sent(reason: str) -> str:
    """The value a refused field holds, from Polars' message: the text itself, else its
    kind (a boolean, a number, an object, a list), or 'a value of another shape'."""
    found = _SENT.search(reason)
    if found is None:
        return "a value of another shape"
    kind, inner = found["kind"], found["inner"]
    if kind == "String" and len(inner) <= 60:
        return inner  # as JSON has it, quoted
    if kind == "Static" and inner.startswith("Bool("):
        return "a boolean"
    return _KINDS.get(kind, "a value of another shape")


async def read_page(
    client: SisClient,
    url: str,
    params: Mapping[str, Any] | None,
    collection: Collection,
    schema: pl.Struct,
) -> Page:
    response = await client.get(url, dict(params) if params else None)
    shown = str(response.request.url)

    def decoded() -> pl.DataFrame:
        if _no_match(response):
            return pl.DataFrame(schema=schema.to_schema())
        body = json_body(response, shown)
        try:
            return decode_page(body, collection.keys, schema, shown)
        except FieldMisfit as misfit:
            # a district's team finds the record in its SIS by its sourcedId
            record = misfit_record(body, collection.keys, misfit.fits)
            if record is None:
                raise
            raise SisError(f"{misfit} ({record})") from None

    # Polars parses off the event loop, so that other pages keep arriving meanwhile
    records = await asyncio.to_thread(decoded)
    links = response.headers.get_list("Link")
    next_link = next_link_of(links)
    return Page(
        shown,
        records,
        _total(response, shown),
        _next_url(response.request.url, next_link, shown) if next_link else None,
        bool(links),
    )


def _no_match(response: httpx2.Response) -> bool:
    """Whether a response says that no record matches its request's filter: 1EdTech has a
    collection read with a filter that no record matches answered 200 with no content (or a
    204), so a delta over a collection where nothing changed is answered so. Without a filter
    an empty body is no answer (`json_body`): read as no records, a maintenance page's empty
    200 would remove the whole collection."""
    body = response.content
    return (
        (not body or body.isspace())
        and response.status_code in (200, 204)
        and "filter" in response.request.url.params
    )


def json_body(response: httpx2.Response, shown: str) -> bytes:
    """The body of a page as UTF-8 JSON text, as Polars reads it: transcoded from the charset its
    Content-Type names, or from UTF-16 or UTF-32 that a byte-order mark announces; refused, with
    the status and the content type, when it is no JSON object (a login or maintenance page
    answered with 200, an empty body)."""
    body = response.content
    charset = response.charset_encoding
    bom = next((codec for mark, codec in UNICODE_BOMS if body.startswith(mark)), None)
    codec = bom or charset
    if codec and codec.lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            body = body.decode(codec).encode()
        except LookupError:
            raise SisError(
                f"{shown}: the Content-Type names an unknown charset {codec!r}"
            ) from None
        except UnicodeDecodeError:
            raise SisError(f"{shown}: the JSON body is not the {codec} its answer says") from None
    start = body.removeprefix(UTF8_BOM).lstrip()[:1]
    if start != b"{":
        kind = response.headers.get("Content-Type") or "no Content-Type"
        what = (
            "an empty body"
            if not start
            else "an HTML page"
            if start == b"<"
            else f"a body starting with {start.decode(errors='replace')!r}"
        )
        raise SisError(
            f"{shown}: HTTP {response.status_code} {response.reason_phrase} ({kind}) answered "
            f"{what}, not a OneRoster JSON object"
        )
    return body


def next_link_of(headers: list[str]) -> str | None:
    """The target of the `Link` headers' `rel="next"` (RFC 8288: relation types are
    case-insensitive, a rel may name several, separated by spaces; parameter names are
    case-insensitive too), or None. httpx's own `links` misses all three."""
    for match in _LINK_VALUE.finditer(",".join(headers)):
        for name, value in _LINK_PARAM.findall(match.group(2)):
            if name.lower() == "rel" and "next" in value.strip("\"'").lower().split():
                return match.group(1).strip()
    return None


def _next_url(request_url: httpx2.URL, link: str, shown: str) -> str:
    """A next link made absolute, refused unless it has the origin (scheme, host and port) of
    the page that gave it, and so of the base URL: the credentials go with every request, and
    no other server is given them or may add records to the roster."""
    try:
        following = request_url.join(link)
    except httpx2.InvalidURL:
        raise SisError(f"{shown}: the next link {link!r} is not a URL") from None
    if _origin(following) != _origin(request_url):
        elsewhere = following.copy_with(username=None, password=None)
        raise SisError(
            f"{shown}: the next link leads to another server ({elsewhere}); it is not followed, "
            "as the credentials would go there too"
        )
    return str(following)


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port  # a default port is None


def _total(response: httpx2.Response, shown: str) -> int | None:
    value = response.headers.get("X-Total-Count")
    if value is None:
        return None
    # (isdigit alone takes '²', which int() refuses)
    if not (value.strip().isascii() and value.strip().isdigit()):
        raise SisError(f"{shown}: X-Total-Count {value!r} is not a count")
    return int(value)


async def read_collection(
    client: SisClient,
    base_url: str,
    collection: Collection,
    schema: pl.Struct,
    page_size: int,
    extra: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Every record of `collection`, in the order the pages gave them."""
    url = base_url.rstrip("/") + collection.path
    params = dict(extra or {})

    async def at(offset: int) -> Page:
        return await read_page(
            client, url, params | {"limit": page_size, "offset": offset}, collection, schema
        )

    first = await at(0)
    pages = [first]
    if first.next_url and not _offset_link(first):
        pages += await _follow_links(client, first, collection, schema)
    elif first.total is not None:
        pages += await _by_total(at, first)
    elif first.linked:
        pass  # a server paging by links says the end by giving no next (its offset may mean
        # nothing: one paging by a cursor answers any offset with the first page again)
    elif first.records.height:
        pages += await _until_short_page(at, first, page_size)
    return _snapshot(pages, url)


def _offset_link(first: Page) -> bool:
    """Whether the first page's next link, given with a total, is the page the REST binding's
    `offset` gives: the collection's own URL, the filter and `limit` sent, and `offset` the
    first page's count. Such pages are asked for at once (`_by_total`, within the client's
    bound) rather than one after another down the links: with a SIS's answer taking a
    quarter of a second, a district's enrollments were read in minutes, each page waiting for
    the one before. A link of any other form (a cursor, another path) is followed."""
    if first.total is None or first.next_url is None or not first.records.height:
        return False
    following, asked = httpx2.URL(first.next_url), httpx2.URL(first.url)
    step = str(first.records.height)
    expected = dict(asked.params.multi_items()) | {"offset": step}
    linked = dict(following.params.multi_items())
    return following.copy_with(query=None) == asked.copy_with(query=None) and linked in (
        expected,
        expected | {"limit": step},  # (a server capping `limit` may say its cap)
    )


async def _by_total(at, first: Page) -> list[Page]:
    """The pages after the first that X-Total-Count says there are, asked for a window at a
    time, up to the first short one: a total larger than the records (or wrong by far) ends
    there, and `_snapshot` says how many came, rather than a page asked for per offset up to
    it at once. A first page whose count the total repeats may be all of the collection, or a
    server counting the page it answers: the next page tells which, and records on it refuse
    the pull (taken for the whole collection, the first page had every later record read as
    one the SIS dropped). Asked for even when the first page is shorter than asked: that
    may be the server's cap on `limit`, which most servers hold below the default."""
    step = first.records.height
    if not step or first.total is None or first.total < step:
        return []
    if first.total == step:
        following = await at(step)
        if following.records.height and _page_key(following) != _page_key(first):
            raise InconsistentPull(
                f"{following.url}: X-Total-Count said {first.total:,} records, all on the "
                "first page, yet the next page holds more (does the server count the page "
                "it answers, not the collection?)"
            )
        return []
    offsets = range(step, first.total, step)
    pages = _Pages()
    pages.add(first)
    for start in range(0, len(offsets), TOTAL_WINDOW):
        window = offsets[start : start + TOTAL_WINDOW]
        read = await all_of([at(offset) for offset in window])
        for page in read:
            pages.add(page)
        if any(page.records.height < step for page in read):
            break
    return pages[1:]


async def _follow_links(
    client: SisClient, first: Page, collection: Collection, schema: pl.Struct
) -> list[Page]:
    """The pages after the first, by their next links. A page without records ends the
    collection only once the page its next link leads to holds none either, or is one
    already read (a server that sends a next link past its last page, or from there back to
    the first). One followed by a page of records refuses the pull: read as the end, it cut
    the collection short there, and the sync took every record after it for one the SIS had
    dropped; read past, it lost whatever records that page held (a server answering it
    empty in a hiccup)."""
    pages, read, page = _Pages(), {first.url}, first
    pages.add(first)
    while page.next_url:
        empty = None if page.records.height else page
        if page.next_url in read:
            if empty is not None:
                break
            raise InconsistentPull(
                f"{page.next_url}: the next link leads back to a page already read"
            )
        following = await read_page(client, page.next_url, None, collection, schema)
        read.add(following.url)
        if empty is not None and (not following.records.height or pages.repeated(following)):
            break  # past the last page
        page = pages.add(following)
        if empty is not None:
            raise InconsistentPull(
                f"{empty.url}: a page without records, yet the page its next link leads to "
                f"holds some ({page.url}): records may be missing from it (the server "
                "answered it empty in a hiccup, or the roster changed while it was read); "
                "pull again"
            )
    return pages[1:]


async def _until_short_page(at, first: Page, page_size: int) -> list[Page]:
    """The pages after the first, up to a short one; a first page shorter than `page_size`
    may be the server's cap, so the next is asked for before stopping. Each page is checked
    as it comes: a server ignoring offset would otherwise be read for ever. The short page
    that ends the collection is the one sign of its end, so the page after it is asked for
    too (`_confirmed_end`)."""
    pages, step = _Pages(), first.records.height
    pages.add(first)
    offset = step
    if step < page_size:
        page = await at(offset)
        if page.records.height:
            pages.add(page)
        if page.records.height < step:
            return await _confirmed_end(at, pages, page, offset, step)
        offset += step
    while True:
        page = pages.add(await at(offset))
        if page.records.height < step:
            return await _confirmed_end(at, pages, page, offset, step)
        offset += step


async def _confirmed_end(at, pages: _Pages, short: Page, offset: int, step: int) -> list[Page]:
    """`pages` after the first, once the page after `short` (read at `offset`, the last of
    a server that says neither a next link nor a total) holds no records, or repeats a page
    read (a server answering an offset past the end with its last page). One of records
    refuses the pull: `short` was answered short or empty in a hiccup, and taken for the end
    it cut the collection there, every record after it read as one the SIS had dropped."""
    after = await at(offset + (short.records.height or step))
    if after.records.height and not pages.repeated(after):
        raise InconsistentPull(
            f"{short.url}: a page of {short.records.height:,} records where the others held "
            f"{step:,} ended the collection, yet the page after it holds records "
            f"({after.url}): records may be missing from it (the server answered it short in "
            "a hiccup, or the roster changed while it was read); pull again"
        )
    return pages[1:]


class _Pages(list):
    """Pages read so far, each refused as it comes if it repeats an earlier one (the same
    count, first and last sourcedId: a server ignoring offset)."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[tuple, str] = {}

    def add(self, page: Page) -> Page:
        key = _page_key(page)
        if key is not None:
            if key in self._keys:
                raise InconsistentPull(
                    f"{page.url}: the same page as {self._keys[key]} (does the server ignore "
                    "offset?)"
                )
            self._keys[key] = page.url
        self.append(page)
        return page

    def repeated(self, page: Page) -> bool:
        """Whether `page` repeats a page read so far."""
        return _page_key(page) in self._keys


def _page_key(page: Page) -> tuple | None:
    """What tells a page of records from another: its count, first and last sourcedId; None
    for a page without records."""
    ids = page.records["sourcedId"]
    return (ids.len(), ids[0], ids[-1]) if ids.len() else None


async def all_of(awaitables: Sequence[Awaitable[T]]) -> list[T]:
    """The results of `awaitables`, run at once, in their order. The first to fail cancels
    the others and is raised alone: with `asyncio.gather` they ran on, a request cut short
    when the failed pull closed the client was retried, and logged as a retry caused by
    nothing, after the pull had already failed."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(one)) for one in awaitables]
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _snapshot(pages: list[Page], url: str) -> pl.DataFrame:
    """The pages as one frame, refused unless they are one consistent snapshot."""
    first = pages[0]
    for page in pages[1:]:
        if page.total is not None and first.total is not None and page.total != first.total:
            raise InconsistentPull(
                f"{page.url}: X-Total-Count changed from {first.total:,} to {page.total:,} during "
                "the pull (the roster changed while it was read); pull again"
            )
    checked = _Pages()
    for page in pages:
        checked.add(page)
    records = pl.concat([page.records for page in pages], how="vertical")
    twice = records.filter(pl.col("sourcedId").is_duplicated())["sourcedId"]
    if twice.len():
        sourced_id = twice[0]
        holding = [page.url for page in pages if (page.records["sourcedId"] == sourced_id).any()]
        where = (
            f"the page {holding[0]}"
            if len(holding) == 1
            else f"the pages {holding[0]} and {holding[1]}"
        )
        raise InconsistentPull(
            f"{url}: sourcedId {sourced_id!r} comes twice, in {where} (the roster changed "
            "while it was read, or the server pages unstably); pull again"
        )
    if first.total is not None and records.height != first.total:
        raise InconsistentPull(
            f"{url}: X-Total-Count said {first.total:,} records, the pages held {records.height:,}"
        )
    return records
