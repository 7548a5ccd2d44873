"""A URL's credentials (`user:password@host`), never shown: told apart, and taken out of text.

Settings and the environment name URLs (a webhook, a token endpoint, the Prefect API); one with
credentials in it is refused by the settings, and whatever rosterflow prints or logs about a
URL goes through `without_userinfo`, so that a password written into one never reaches a
terminal, a log file or a scheduler's mail.
"""

from __future__ import annotations

import re

# scheme://userinfo@ : the userinfo ends at the authority's end (/, ? or #) at the latest
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")


def is_url(feed: str) -> bool:
    """Whether a feed argument names a OneRoster API (pulled first) rather than a zip or
    folder. Told here, apart from the pull and its HTTP clients, which a sync of a file never
    imports (0.24 s of every `rosterflow sync` of a zip). A scheme is in any letter case
    (RFC 3986), `HTTPS://` as well."""
    return feed[:8].lower().startswith(("http://", "https://"))


# how a OneRoster rostering base URL's path ends, and the version it serves:
# `…/ims/oneroster/v1p1` (1.1), `…/ims/oneroster/rostering/v1p2` (1.2)
ROSTERING_ENDINGS = {"/v1p1": "1.1", "/v1p2": "1.2"}
GIVE_BASE_URL = (
    "give the one ending in /ims/oneroster/v1p1 (1.1) or /ims/oneroster/rostering/v1p2 (1.2)"
)


def rostering_version(url: str) -> str | None:
    """The OneRoster version a rostering base URL serves, from how its path ends (a trailing
    slash aside), or None for a URL that is no base URL (one with a query or a fragment
    included). `sis.endpoints` and the sources file tell base URLs apart by it."""
    if "?" in url or "#" in url:
        return None
    path = url.rstrip("/")
    return next((v for ending, v in ROSTERING_ENDINGS.items() if path.endswith(ending)), None)


def has_userinfo(url: str) -> bool:
    """Whether `url` holds credentials: an `@` in its authority (between `//` and the first
    `/`, `?` or `#`)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    return "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]


def without_userinfo(text: str) -> str:
    """`text` with the `user:password@` of every URL in it taken out."""
    return _USERINFO.sub(r"\g<scheme>", text)
