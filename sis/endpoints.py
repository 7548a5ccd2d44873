"""Which OneRoster version a base URL serves, the rostering collections it is read from, and the
read scopes a token asks for by default.

Base URLs: `…/ims/oneroster/v1p1` (1.1) and `…/ims/oneroster/rostering/v1p2` (1.2). Each
collection is a path under the base; its list comes under one key, which servers spell
differently (`/orgs` may answer `orgs` or `schools`, `/users` `users` or `students`).
"""

from __future__ import annotations

from dataclasses import dataclass

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


def version_of(base_url: str) -> str:
    """The OneRoster version of a base URL: 1.1 for `…/v1p1`, 1.2 for `…/rostering/v1p2`."""
    path = base_url.split("?", 1)[0].rstrip("/")
    if not path.startswith(("http://", "https://")):
        raise SisError(f"{base_url}: not an http:// or https:// URL")
    if "@" in path.split("/")[2]:
        # the URL is the run's feed name in audit: no credential may ride in it
        raise SisError(
            "the URL holds credentials (user:password@host); give them in the environment or "
            "the [source] table of the settings instead"
        )
    if path.endswith("/v1p1"):
        return "1.1"
    if path.endswith("/v1p2"):
        return "1.2"
    raise SisError(
        f"{base_url}: not a OneRoster base URL; give the one ending in /ims/oneroster/v1p1 (1.1) "
        "or /ims/oneroster/rostering/v1p2 (1.2)"
    )


def default_scopes(version: str) -> tuple[str, ...]:
    """The version's read scopes of what a pull reads: the core roster and demographics."""
    root = SCOPE_ROOT.format(v="v1p1" if version == "1.1" else "v1p2")
    return tuple(root + scope for scope in READ_SCOPES)
