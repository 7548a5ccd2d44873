"""The sources file of `rosterflow serve --sources FILE`: the districts pulled from their
OneRoster APIs, each with its tenant, base URL and, optionally, a settings file of its own (a
relative path is read beside the sources file)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from rosterflow.schemas.settings import SettingsError, read_toml
from rosterflow.schemas.urls import GIVE_BASE_URL, has_userinfo, rostering_version


class PullSource(BaseModel):
    """One district of the sources file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    tenant: str = Field(min_length=1, description="The tenant the district's records are.")
    url: str = Field(pattern=r"^https?://", description="The base URL of its OneRoster API.")
    config: str | None = Field(None, description="Its settings file, [source] included.")

    @field_validator("tenant")
    @classmethod
    def _named(cls, tenant: str) -> str:
        # as `--tenant` refuses a blank name: a district synced into a tenant named "  ", or
        # into a tenant "north " beside "north", its records made again
        if not tenant.strip() or tenant != tenant.strip():
            raise PydanticCustomError("blank", "blank")
        return tenant

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        # refused unseen, as `pull` refuses it: the URL names the district's runs in audit
        if has_userinfo(url):
            raise PydanticCustomError("credentials", "credentials")
        # as `pull` refuses it, but here before `serve` starts rather than at every scan
        if "?" in url or "#" in url:
            raise PydanticCustomError("query", "query")
        if rostering_version(url) is None:
            raise PydanticCustomError("not_base", "not_base")
        return url

    @field_validator("config")
    @classmethod
    def _a_file(cls, config: str | None) -> str | None:
        # an empty path would be the sources file's folder, refused at every scan as a folder
        if config is not None and not config.strip():
            raise PydanticCustomError("blank", "blank")
        return config


class SourcesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    source: tuple[PullSource, ...] = Field(min_length=1)


# what each [[source]] gives, as a refused file's message ends
GIVES = "each [[source]] gives tenant, url and optionally config"
WANTED = {
    "tenant": "give the tenant's name, which cannot be empty or blank, nor start or end with "
    "spaces",
    "url": "give the base URL of the district's OneRoster API, http:// or https://",
    "config": "give the path of the district's settings file (beside this file when relative), "
    "or leave config out",
}


def load_sources(path: str | Path) -> list[PullSource]:
    """The districts a sources file lists, their settings files resolved beside it; a
    SettingsError naming the first problem."""
    path = Path(path)
    raw = read_toml(path, "sources file")
    if isinstance(raw.get("source"), list):
        raw["source"] = tuple(raw["source"])
    try:
        listed = SourcesFile.model_validate(raw).source
    except ValidationError as error:
        raise SettingsError(f"{path}: {_message(error.errors()[0], raw)}") from None
    tenants = [s.tenant for s in listed]
    twice = sorted({t for t in tenants if tenants.count(t) > 1})
    if twice:
        raise SettingsError(f"{path}: tenant {twice[0]!r} is listed twice")
    # `~` is the home folder, as in a shell; a relative path is beside the sources file
    return [
        s.model_copy(update={"config": str(path.parent / Path(s.config).expanduser())})
        if s.config
        else s
        for s in listed
    ]


def _message(error: ErrorDetails, raw: dict) -> str:
    """One pydantic error in words: which [[source]] (its number, and its tenant when it
    has one), the key, its value, and what to give instead."""
    loc, value = error["loc"], error["input"]
    if not loc:
        return f"the file must list districts; {GIVES}"
    if loc[0] != "source":
        return f"unknown setting {loc[0]}; the file lists districts only, {GIVES}"
    if len(loc) == 1:
        if isinstance(raw.get("source"), dict):  # [source], the settings' table, by habit
            return f"[source] is one table; write each district as [[source]]; {GIVES}"
        return f"no [[source]] table; {GIVES}"
    number = loc[1]
    entry = raw["source"][number] if isinstance(number, int) else None
    tenant = entry.get("tenant") if isinstance(entry, dict) else None
    which = f"[[source]] {number + 1}" if isinstance(number, int) else "[[source]]"
    if isinstance(tenant, str) and tenant.strip():
        which += f" (tenant {tenant!r})"
    if len(loc) == 2:
        return f"{which} must be a table; {GIVES}"
    key = loc[2]
    if error["type"] == "extra_forbidden":
        return f"{which}: unknown key {key}; {GIVES}"
    if error["type"] == "missing":
        return f"{which}: no {key}; {WANTED.get(key, GIVES)}"
    # (a wrong scheme is refused before the credentials are looked for: never shown either)
    if error["type"] == "credentials" or (
        key == "url" and isinstance(value, str) and has_userinfo(value)
    ):
        return (
            f"{which} url: the URL holds credentials (user:password@host); give them in the "
            "[source] table of the district's settings (config) or the environment instead"
        )
    if key == "url":
        if not isinstance(value, str):  # (a list of URLs, say: one may hold credentials)
            return f"{which} url must be text; {WANTED['url']}"
        # a query or fragment may hold a token (`pull` refuses it unseen too)
        head = re.split(r"[?#]", value, maxsplit=1)[0]
        shown = head + (f"{value[len(head)]}…" if head != value else "")
        if error["type"] == "query":
            return (
                f"{which} url = {shown!r}: a base URL takes no query or fragment; give the "
                "credentials in the [source] table of the district's settings (config) or the "
                "environment"
            )
        if error["type"] == "not_base":
            return f"{which} url = {shown!r}: not a OneRoster base URL; {GIVE_BASE_URL}"
        return f"{which} url = {shown!r}; {WANTED['url']}"
    return f"{which} {key} = {value!r}; {WANTED.get(key, GIVES)}"
