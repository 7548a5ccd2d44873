"""Which OneRoster version a base URL serves, the rostering collections it is read from, the
gradebook collections a push writes to, and the scopes a token asks for by default.

Rostering base URLs: `…/ims/oneroster/v1p1` (1.1) and `…/ims/oneroster/rostering/v1p2` (1.2).
Each collection is a path under the base; its list comes under one key, which servers spell
differently (`/orgs` may answer `orgs` or `schools`, `/users` `users` or `students`).

Gradebook base URLs: `…/ims/oneroster/v1p1` (1.1: one service for all) and
`…/ims/oneroster/gradebook/v1p2` (1.2: a service of its own). A record is PUT at
`<base>/<file>/<sourcedId>` (`categories`, `lineItems`, `results`: `sis.push`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rosterflow.schemas.urls import GIVE_BASE_URL, rostering_version
from rosterflow.sis.errors import SisError


@dataclass(frozen=True)
class Collection:
    file: str  # the OneRoster CSV file it becomes (the manifest's entity name)
    path: str
    keys: tuple[str, ...]  # the list's key in the body, the spec's first
    optional: bool = False  # absent from the feed when the API does not offer it


COLLECTIONS = (
    Collection("orgs", "/orgs", ("orgs", "schools")),
    Collection("academicSessions", "/academicSessions", ("academicSessions", "terms")),
    Collection("courses", "/courses", ("courses",)),
    Collection("classes", "/classes", ("classes",)),
    Collection("users", "/users", ("users", "students", "teachers")),
    Collection("enrollments", "/enrollments", ("enrollments",)),
    Collection("demographics", "/demographics", ("demographics",), optional=True),
)

SCOPE_ROOT = "https://purl.imsglobal.org/spec/or/{v}/scope/"
READ_SCOPES = ("roster-core.readonly", "roster-demographics.readonly")
# what a push asks for: to create and replace gradebook records (PUT); 1.1 and 1.2 alike
PUSH_SCOPES = ("gradebook.createput",)


def _base_path(base_url: str) -> str:
    """The URL without its trailing slash; refused unless http(s) and free of credentials, a
    query and a fragment. No message repeats what may hold a credential: the user:password@
    of a URL is refused unseen, and a query or fragment is shown as `?…` or `#…`."""
    head = re.split(r"[?#]", base_url, maxsplit=1)[0]
    authority = head.split("://", 1)[1] if "://" in head else head
    if "@" in authority.split("/", 1)[0]:
        # the URL is the run's feed name in audit: no credential may ride in it
        raise SisError(
            "the URL holds credentials (user:password@host); give them in the environment or "
            "the [source] table of the settings instead"
        )
    with_query = head != base_url
    scheme, found, rest = head.partition("://")
    if found:  # a scheme is in any letter case (RFC 3986): `HTTPS://` is https
        head = f"{scheme.lower()}://{rest}"
    if not head.startswith(("http://", "https://")):
        raise SisError(f"{head}: not an http:// or https:// URL")
    if with_query:
        # a query would be dropped from every request (each sends its own limit and offset)
        raise SisError(
            f"{head}{base_url[len(head)]}…: not a OneRoster base URL: a base URL takes no query "
            "or fragment (credentials go in the environment or the [source] table of the "
            "settings)"
        )
    return head.rstrip("/")


def version_of(base_url: str) -> str:
    """The OneRoster version of a base URL: 1.1 for `…/v1p1`, 1.2 for `…/rostering/v1p2`."""
    version = rostering_version(_base_path(base_url))
    if version is None:
        raise SisError(f"{base_url}: not a OneRoster base URL; {GIVE_BASE_URL}")
    return version


def gradebook_version_of(base_url: str) -> str:
    """The OneRoster version of a gradebook base URL: 1.1 for `…/v1p1`, 1.2 for
    `…/gradebook/v1p2` (1.2's rostering base is refused, saying where its gradebook is)."""
    path = _base_path(base_url)
    if path.endswith("/v1p1"):
        return "1.1"
    if path.endswith("/gradebook/v1p2"):
        return "1.2"
    if path.endswith("/v1p2"):
        raise SisError(
            f"{base_url}: OneRoster 1.2 serves the gradebook apart from the roster; give the "
            "base URL ending in /ims/oneroster/gradebook/v1p2"
        )
    raise SisError(
        f"{base_url}: not a OneRoster gradebook base URL; give the one ending in "
        "/ims/oneroster/v1p1 (1.1) or /ims/oneroster/gradebook/v1p2 (1.2)"
    )


def _scopes(version: str, scopes: tuple[str, ...]) -> tuple[str, ...]:
    root = SCOPE_ROOT.format(v="v1p1" if version == "1.1" else "v1p2")
    return tuple(root + scope for scope in scopes)


def default_scopes(version: str) -> tuple[str, ...]:
    """The version's read scopes of what a pull reads: the core roster and demographics."""
    return _scopes(version, READ_SCOPES)


def push_scopes(version: str) -> tuple[str, ...]:
    """The version's scope a grades push needs: gradebook.createput."""
    return _scopes(version, PUSH_SCOPES)
