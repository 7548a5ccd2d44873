"""A roster served as a SIS serves it over the OneRoster REST API (1.1 or 1.2), for trying
`rosterflow pull` on the demo district, for the tests, and for the pull benchmark.

`RosterApi` is a small ASGI app over a roster's CSV-shaped frames (`demo.district`, 1.1; or
their 1.2 twin, `schemas.v12.as_v12`): each record becomes its JSON binding (references as
`{href, sourcedId, type}` with a relative href, lists as arrays, booleans as JSON booleans,
`userIds` as `{type, identifier}`; in 1.2, each user's roles and its primary org inside it),
rendered once per collection with Polars; a page joins the slice of records it asks for.

It pages with `limit` and `offset`, sends `X-Total-Count` and a `Link rel="next"` unless told
not to, may cap `limit`, answers `filter=dateLastModified>'…'`, and asks for an OAuth 2.0
bearer token from its `/token` endpoint (client credentials) when given a client id and
secret. `fault` lets a test answer any request otherwise (a 500, a 429, a changed roster).
The token endpoint and the hook are `OAuthApp`'s, which the gradebook service that takes a
push's PUTs shares (`demo.gradebook_api`).
"""

from __future__ import annotations

import base64
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import polars as pl

from rosterflow.schemas.spec import SPECS_BY_VERSION, Column
from rosterflow.schemas.vocabulary import Kind

BASE_PATHS = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/rostering/v1p2"}
TOKEN_PATH = "/token"
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
# the records' dateLastModified where the frames leave it empty (a bulk export's)
MODIFIED = "2026-01-05T08:00:00.000Z"
# the GUIDRef type of a reference into each file
REF_TYPES = {
    "orgs": "org",
    "academicSessions": "academicSession",
    "courses": "course",
    "classes": "class",
    "users": "user",
    "userProfiles": "userProfile",
}
_FILTER = re.compile(r"^dateLastModified>'([^']*)'$")

# a fault hook: (method, path, query) -> (status, headers, body) to answer instead, or None
Fault = Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], bytes] | None]


# --- the JSON binding of CSV rows -----------------------------------------------------------


def _ref(target: str, sourced_id: pl.Expr) -> pl.Expr:
    return pl.struct(
        pl.format("/{}/{}", pl.lit(target), sourced_id).alias("href"),
        sourced_id.alias("sourcedId"),
        pl.lit(REF_TYPES.get(target, target)).alias("type"),
    )


def _items(value: pl.Expr) -> pl.Expr:
    return value.str.split(",").list.eval(pl.element().str.strip_chars())


def _json_value(column: Column) -> tuple[str, pl.Expr] | None:
    """A CSV column as its JSON field: (name, value)."""
    value, name = pl.col(column.name), column.name
    if column.name == "password":
        return None
    if column.kind == Kind.REF:
        return name.removesuffix("SourcedId"), pl.when(value.is_not_null()).then(
            _ref(column.target or "", value)
        )
    if column.kind == Kind.REF_LIST:
        return name.removesuffix("SourcedIds") + "s", _items(value).list.eval(
            _ref(column.target or "", pl.element())
        )
    if column.kind in (Kind.LIST, Kind.GRADES):
        return name, _items(value)
    if column.kind == Kind.USER_IDS:
        item = pl.element()
        return name, value.str.extract_all(r"\{[^}]*\}").list.eval(
            pl.struct(
                item.str.extract(r"^\{([^:]*):").alias("type"),
                item.str.extract(r"^\{[^:]*:(.*)\}$").alias("identifier"),
            )
        )
    if column.kind == Kind.BOOL:
        return name, value.str.to_lowercase() == "true"
    if column.kind == Kind.STATUS:
        return name, value.fill_null("active")
    if column.kind == Kind.DATETIME:
        return name, value.fill_null(MODIFIED)
    renamed = {
        "preferredGivenName": "preferredFirstName",
        "preferredFamilyName": "preferredLastName",
    }
    return renamed.get(name, name), value


def json_records(file: str, frame: pl.DataFrame, version: str) -> pl.DataFrame:
    """The rows of a CSV file as the struct columns of their JSON records."""
    fields = [
        found[1].alias(found[0])
        for column in SPECS_BY_VERSION[version][file].columns
        if (found := _json_value(column)) is not None
    ]
    return frame.select(*fields)


def _roles_of_users(roles: pl.DataFrame) -> pl.DataFrame:
    """1.2: each user's roles.csv rows as the `roles` array of its JSON record."""
    return roles.group_by("userSourcedId", maintain_order=True).agg(
        pl.struct(
            "roleType",
            "role",
            pl.when(pl.col("orgSourcedId").is_not_null())
            .then(_ref("orgs", pl.col("orgSourcedId")))
            .alias("org"),
            pl.col("userProfileSourcedId").alias("userProfile"),
            "beginDate",
            "endDate",
        ).alias("roles")
    )


# --- the app --------------------------------------------------------------------------------


@dataclass
class _Collection:
    key: str  # the list's key in the body
    lines: list[bytes]  # each record as JSON
    modified: pl.Series  # each record's dateLastModified, for the filter


class OAuthApp:
    """An ASGI app of a SIS's OneRoster API: a `/token` endpoint issuing bearer tokens for the
    client credentials `client` (when given, every other request needs one), the requests it
    got in `requests`, and `fault` to answer any request otherwise. A subclass serves the rest
    (`_serve`)."""

    def __init__(self, client: tuple[str, str] | None = None) -> None:
        self.client = client  # (client id, secret) the token endpoint accepts
        self.fault: Fault | None = None
        self.requests: list[str] = []  # "METHOD path?query" of every request, in order
        self.scopes: list[str] = []  # the scope each token issued was asked for
        self._tokens: set[str] = set()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        self.requests.append(f"{method} {path}" + (f"?{urlencode(query)}" if query else ""))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, extra, content = self._answer(method, path, query, headers, body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    *((k.encode(), v.encode()) for k, v in extra.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.fault is not None and (faulted := self.fault(method, path, query)) is not None:
            return faulted
        if path == TOKEN_PATH and method == "POST":
            return self._token(headers, body)
        if self.client is not None:
            token = headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self._tokens:
                return 401, {}, b'{"imsx_codeMajor":"failure","imsx_description":"unauthorized"}'
        return self._serve(method, path, query, body)

    def _serve(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def _token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        basic = headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if self.client is None or (client_id, secret) != self.client:
            return 401, {}, b'{"error":"invalid_client"}'
        self.scopes.append(form.get("scope", ""))
        token = secrets.token_urlsafe(16)
        self._tokens.add(token)
        answer = (
            b'{"access_token":"' + token.encode() + b'","token_type":"Bearer","expires_in":3600}'
        )
        return 200, {}, answer


class RosterApi(OAuthApp):
    """An ASGI app serving `frames` (OneRoster file -> CSV-shaped frame, in `version`)."""

    def __init__(
        self,
        frames: Mapping[str, pl.DataFrame],
        version: str = "1.1",
        *,
        link: bool = True,
        total: bool = True,
        max_limit: int | None = None,
        client: tuple[str, str] | None = None,
        list_keys: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(client)
        self.version = version
        self.base_path = BASE_PATHS[version]
        self.link, self.total, self.max_limit = link, total, max_limit
        self.list_keys = dict(list_keys or {})
        self.load(frames)

    def load(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Serve `frames` from now on (a roster that changed)."""
        records: dict[str, pl.DataFrame] = {
            name: json_records(name, frame, self.version)
            for name, frame in frames.items()
            if name in (*COLLECTIONS, "demographics")
        }
        if self.version == "1.2" and "users" in records:
            roles = _roles_of_users(frames["roles"])
            records["users"] = (
                records["users"]
                .with_row_index("_order")
                .join(roles, left_on="sourcedId", right_on="userSourcedId", how="left")
                .sort("_order")
                .drop("_order")
            )
        self.collections = {
            name: _Collection(
                self.list_keys.get(name, name),
                frame.write_ndjson().encode().splitlines(),
                frame["dateLastModified"],
            )
            for name, frame in records.items()
        }

    def _serve(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        name = path.removeprefix(self.base_path).strip("/")
        if method != "GET" or not path.startswith(self.base_path) or name not in self.collections:
            return 404, {}, b'{"imsx_codeMajor":"failure","imsx_description":"not found"}'
        return self._page(name, path, query)

    def _page(
        self, name: str, path: str, query: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        collection = self.collections[name]
        lines = collection.lines
        if "filter" in query:
            match = _FILTER.match(query["filter"])
            if match is None:
                return 400, {}, b'{"imsx_codeMajor":"failure","imsx_description":"bad filter"}'
            changed = (collection.modified > match.group(1)).arg_true()
            lines = [lines[i] for i in changed]
        limit = int(query.get("limit", 100))
        if self.max_limit is not None:
            limit = min(limit, self.max_limit)
        offset = int(query.get("offset", 0))
        page = lines[offset : offset + limit]
        headers = {}
        if self.total:
            headers["X-Total-Count"] = str(len(lines))
        if self.link and offset + limit < len(lines):
            following = urlencode(query | {"limit": limit, "offset": offset + limit})
            headers["Link"] = f'<{path}?{following}>; rel="next"'
        key = collection.key.encode()
        return 200, headers, b'{"' + key + b'":[' + b",".join(page) + b"]}"


# --- serving it on this machine ---------------------------------------------------------------


@contextmanager
def serving(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread of this process; yields its root URL (no
    trailing slash)."""
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        # uvicorn looks at `should_exit` every 0.1 s: an API served for a few requests, as a
        # test serves one hundreds of times, stops in a tenth of that
        async def main_loop(self) -> None:
            ticks = 0
            while not await self.on_tick(ticks):
                ticks = (ticks + 1) % 864000
                await asyncio.sleep(0.01)

    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="roster-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the roster API did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main(argv: list[str]) -> None:
    """`python -m rosterflow.demo.api [--students N] [--version 1.1|1.2] [--port P]
    [--paging link|total|none] [--max-limit N]`: serve a generated district until
    interrupted, printing its base URL first (an open API: no token asked)."""
    import argparse

    from rosterflow.demo.district import generate_feed
    from rosterflow.schemas.v12 import as_v12

    parser = argparse.ArgumentParser(prog="python -m rosterflow.demo.api")
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--version", choices=("1.1", "1.2"), default="1.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--paging",
        choices=("link", "total", "none"),
        default="link",
        help="link: Link and X-Total-Count headers; total: X-Total-Count alone; none: neither",
    )
    parser.add_argument("--max-limit", type=int, default=None)
    options = parser.parse_args(argv)
    frames = generate_feed(options.students)
    app = RosterApi(
        frames if options.version == "1.1" else as_v12(frames),
        options.version,
        link=options.paging == "link",
        total=options.paging in ("link", "total"),
        max_limit=options.max_limit,
    )
    with serving(app, port=options.port) as root:
        print(root + app.base_path, flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
