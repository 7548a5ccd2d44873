"""The sources file of `rosterflow serve --sources FILE`: the districts pulled from their
OneRoster APIs, each with its tenant, base URL and, optionally, a settings file of its own (a
relative path is read beside the sources file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from rosterflow.schemas.settings import SettingsError, read_toml
from rosterflow.schemas.urls import has_userinfo


class PullSource(BaseModel):
    """One district of the sources file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    tenant: str = Field(min_length=1, description="The tenant the district's records are.")
    url: str = Field(pattern=r"^https?://", description="The base URL of its OneRoster API.")
    config: str | None = Field(None, description="Its settings file, [source] included.")

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        # refused unseen, as `pull` refuses it: the URL names the district's runs in audit
        if has_userinfo(url):
            raise PydanticCustomError(
                "credentials",
                "the URL holds credentials (user:password@host); give them in the [source] "
                "table of the district's settings (config) or the environment instead",
            )
        return url


class SourcesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    source: tuple[PullSource, ...] = Field(min_length=1)


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
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SettingsError(
            f"{path}: {where}: {first['msg']} (each [[source]] gives tenant, url and "
            "optionally config)"
        ) from None
    tenants = [s.tenant for s in listed]
    twice = sorted({t for t in tenants if tenants.count(t) > 1})
    if twice:
        raise SettingsError(f"{path}: tenant {twice[0]!r} is listed twice")
    return [
        s.model_copy(update={"config": str(path.parent / s.config)}) if s.config else s
        for s in listed
    ]
