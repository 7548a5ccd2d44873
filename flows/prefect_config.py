"""Whether a Prefect API is configured, answered without importing Prefect (which alone takes
about 2 s, longer than a whole sync of a small feed).

Prefect reads `PREFECT_API_URL` from the environment, then from `.env`, `prefect.toml` and
`pyproject.toml` (`[tool.prefect]`) in the working directory, then from the active profile
(`prefect config set PREFECT_API_URL=...` and `prefect cloud login` write it there). This
module looks in the same places. When it cannot tell (a file it cannot read), it answers yes,
and Prefect itself decides.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from rosterflow.schemas.urls import without_userinfo

API_URL = "PREFECT_API_URL"
UI_URL = "PREFECT_UI_URL"


def prefect_api_configured() -> bool:
    """True when Prefect would report runs to an API server rather than start a temporary one."""
    if "prefect" in sys.modules:  # already paid for: ask Prefect (tests change its settings)
        from prefect.settings import PREFECT_API_URL

        return bool(PREFECT_API_URL.value())
    return api_url_found()


def api_url_found() -> bool:
    """Whether PREFECT_API_URL is set where Prefect would read it, found without Prefect."""
    try:
        return bool(configured_api_url())
    except (OSError, ValueError):  # tomllib.TOMLDecodeError is a ValueError
        return True


def configured_api_url() -> str | None:
    """PREFECT_API_URL where Prefect would read it, found without Prefect; raises OSError or
    ValueError for a file it cannot read."""
    if API_URL in os.environ:
        return os.environ[API_URL]
    return (
        _dotenv(Path(".env")).get(API_URL)
        or _table(_toml(Path("prefect.toml")), "api").get("url")
        or _table(_toml(Path("pyproject.toml")), "tool", "prefect", "api").get("url")
        or _active_profile().get(API_URL)
    )


def hide_userinfo_from_the_ui_url() -> None:
    """Before Prefect is imported: when the API's URL holds a `user:password@` and no UI URL is
    set, set the UI URL Prefect would derive from it (the API's, less `/api`) without them.
    Prefect prints that URL itself, in its "View at ..." log lines and in a served
    deployment's banner, and derived, it carried the password."""
    if UI_URL in os.environ or "prefect" in sys.modules:
        return
    try:
        url = configured_api_url()
    except (OSError, ValueError):
        return
    if not url or not isinstance(url, str):
        return
    hidden = without_userinfo(url)
    if hidden != url:
        os.environ[UI_URL] = hidden.rstrip("/").removesuffix("/api")


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _table(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    for key in keys:
        data = data.get(key, {})
        if not isinstance(data, Mapping):
            return {}
    return data


def _dotenv(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a .env file (with `export `, quotes and comments as dotenv has them)."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        # a quoted value is the quoted text alone: a comment may follow it (`KEY="value"  #
        # why`), and the quotes kept made the UI's URL, derived from this one, a broken link
        closing = value.find(value[:1], 1) if value[:1] in ("'", '"') else -1
        value = value[1:closing] if closing > 0 else value.split(" #", 1)[0].strip()
        values[key] = value
    return values


def _test_mode() -> bool:
    """Prefect's test mode ignores profiles."""
    names = ("TEST_MODE", "UNIT_TEST_MODE", "TESTING_UNIT_TEST_MODE", "TESTING_TEST_MODE")
    return any(os.environ.get(f"PREFECT_{name}") for name in names)


def _packaged_profiles() -> Path | None:
    """The profiles.toml Prefect ships (found without importing it)."""
    spec = find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "settings" / "profiles.toml"


def _profiles_path() -> Path:
    """Where Prefect looks for profiles.toml, in its order."""
    pyproject = _table(_toml(Path("pyproject.toml")), "tool", "prefect")
    for candidate in (
        os.environ.get("PREFECT_PROFILES_PATH"),
        _dotenv(Path(".env")).get("PREFECT_PROFILES_PATH"),
        _toml(Path("prefect.toml")).get("profiles_path"),
        pyproject.get("profiles_path"),
    ):
        if candidate:
            return Path(candidate)
    if os.environ.get("PREFECT_HOME"):
        return Path(os.environ["PREFECT_HOME"]) / "profiles.toml"
    return Path.home() / ".prefect" / "profiles.toml"


def _active_profile() -> Mapping[str, Any]:
    """The settings of the profile Prefect would use: the active one of the user's
    profiles.toml, else the default of the profiles.toml Prefect ships."""
    if _test_mode():
        return {}
    path = _profiles_path()
    if path.is_file():
        data = _toml(path)
        profiles = _table(data, "profiles")
        active = os.environ.get("PREFECT_PROFILE") or data.get("active")
        if isinstance(active, str) and active in profiles:
            return _table(profiles, active)
    packaged = _packaged_profiles()
    if packaged is None or not packaged.is_file():
        return {}
    defaults = _toml(packaged)
    return _table(defaults, "profiles", str(defaults.get("active", "ephemeral")))
