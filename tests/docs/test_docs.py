"""The documentation: the site builds with every warning an error, its generated reference
pages cover the code, and the README stays short, true to CI and linked into docs/."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def hooks():
    """docs/hooks.py, loaded as mkdocs loads it: from its path."""
    spec = importlib.util.spec_from_file_location("rosterflow_docs_hooks", ROOT / "docs/hooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


# a few seconds: in the README's test command, so that a broken page fails before CI does
def test_the_site_builds_with_every_warning_an_error(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stdout + build.stderr
    cli = (site / "reference/cli/index.html").read_text()
    assert "rosterflow sync [OPTIONS] FEED" in cli
    warehouse = (site / "reference/warehouse/index.html").read_text()
    assert "lms.users" in warehouse and "one row per user" in warehouse
    assert "<!-- generated:" not in (site / "reference/settings/index.html").read_text()
    # a page's link to a repository file outside docs/ lands on a copy in the site
    assert (site / "repository/bench/index.html").is_file()  # a README is its folder's page
    assert (site / "repository/bench/results/bench.png").is_file()


# --- the README ------------------------------------------------------------------------------


def fenced_commands(text: str) -> list[str]:
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 150


def test_the_readme_runs_the_tests_as_ci_does():
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    tests = [c for c in fenced_commands(README.read_text()) if c.endswith("/pytest")]
    assert tests == [
        'python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e ".[dev]" '
        "&& .venv/bin/pytest"
    ]
    assert tests[0] in ci


def test_the_readme_runs_the_demo_from_a_plain_install():
    demo = [c for c in fenced_commands(README.read_text()) if c.endswith("rosterflow demo")]
    assert demo == [
        "python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e . "
        "&& .venv/bin/rosterflow demo"
    ]


def test_the_readme_links_resolve():
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links into docs/"
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_the_readme_picture_is_in_docs_and_says_how_it_was_made():
    text = README.read_text()
    assert "](docs/assets/demo.svg)" in text
    assert "docs/record_demo.py" in text
    assert (ROOT / "docs/record_demo.py").is_file()


# --- the generated reference -----------------------------------------------------------------


def test_the_cli_reference_has_every_command_and_option(hooks):
    import typer

    from rosterflow.flows.cli import app

    reference = hooks.cli_reference()
    for name, command in typer.main.get_command(app).commands.items():
        assert f"## `rosterflow {name}`" in reference
        for param in command.params:
            if param.param_type_name == "option":
                assert f"`{param.opts[0]}`" in reference


def test_the_settings_reference_has_every_section_and_key(hooks):
    from rosterflow.schemas.settings import Settings

    reference = hooks.settings_reference()
    for section in hooks.settings_sections(Settings):
        assert f"## `[{section.name}]`" in reference
        for key in section.keys:
            assert f"| `{key.name}` |" in reference


class Policy(BaseModel):
    """What happens to a managed record whose source left the SIS."""

    users: Literal["delete", "keep", "inactivate"] = Field(
        "inactivate", description="A user who left the SIS."
    )


class Safety(BaseModel):
    max_removal_share: float = Field(0.2, ge=0, le=1, description="Hold a run that removes more.")


class Validation(BaseModel):
    required: dict[str, list[str]] = Field(
        default_factory=lambda: {"courses": ["courseCode"], "users": []},
        description="Extra fields a platform demands.",
    )


class PydanticSettings(BaseModel):
    policy: Policy = Field(default_factory=Policy)
    safety: Safety = Field(default_factory=Safety, description="The guards.")
    validation: Validation | None = None


def test_settings_as_a_pydantic_model_give_choices_ranges_defaults_and_descriptions(hooks):
    sections = {s.name: s for s in hooks.settings_sections(PydanticSettings)}
    assert list(sections) == ["policy", "safety", "validation"]
    assert sections["policy"].description == (
        "What happens to a managed record whose source left the SIS."
    )
    assert sections["safety"].description == "The guards."
    users, share, required = (
        sections["policy"].keys[0],
        sections["safety"].keys[0],
        sections["validation"].keys[0],
    )
    assert hooks.describe_type(users.annotation, users.constraints) == (
        "`delete` \\| `keep` \\| `inactivate`"
    )
    assert users.description == "A user who left the SIS."
    assert hooks.describe_type(share.annotation, share.constraints) == "number, 0 to 1"
    assert hooks.toml_value(required.default) == '{ courses = ["courseCode"], users = [] }'


@dataclass(frozen=True)
class Hierarchy:
    org_base_courses: bool = True  # base courses down the org chain


@dataclass(frozen=True)
class DataclassSettings:
    hierarchy: Hierarchy = field(default_factory=Hierarchy)


def test_settings_as_dataclasses_give_every_key_with_its_default(hooks):
    (section,) = hooks.settings_sections(DataclassSettings)
    (key,) = section.keys
    assert (section.name, key.name, key.default) == ("hierarchy", "org_base_courses", True)
    assert key.description == "base courses down the org chain"
    assert hooks.describe_type(key.annotation, []) == "true or false"


def test_the_warehouse_reference_has_every_table_its_columns_and_grain(hooks):
    files = hooks.migration_files()
    tables = hooks.warehouse_columns(files)
    reference = hooks.warehouse_reference()
    assert {t.split(".")[0] for t in tables} == set(hooks.SCHEMAS)
    for table, columns in tables.items():
        assert f"### `{table}`" in reference
        for column, *_ in columns:
            assert f"| `{column}` |" in reference
    assert "**Grain:** one row per user in a course with a role." in reference


def test_every_table_and_view_states_its_grain_beside_its_ddl(hooks):
    assert hooks.missing_grains() == []


def test_migration_comments_are_read_after_renames_and_rebuilds(hooks):
    files = [
        (
            "001_a.sql",
            "-- grain: one row per thing.\ncreate table s.things (\n"
            "    id bigint,  -- the thing's id\n    name varchar\n);\n"
            "-- grain: one row per ended thing.\ncreate table s.old as select * from s.things;\n",
        ),
        (
            "002_b.sql",
            "create table s.things_v2 (\n    id bigint,\n    size int  -- how big\n);\n"
            "drop table s.things;\nalter table s.things_v2 rename to things;\n"
            "-- when it was made\nalter table s.things add column made date;\n",
        ),
    ]
    notes = hooks.table_notes(files)
    things = notes["s.things"]
    assert things.grain == "one row per thing"
    assert things.columns == {"id": "the thing's id", "size": "how big", "made": "when it was made"}
    assert hooks.column_note(notes, "s.old", "id") == "the thing's id"  # `as select *`
    assert hooks.split_grain("the tables (grain: one row per x), then more") == (
        "one row per x",
        "the tables, then more",
    )


# --- links into the repository ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "link", "target"),
    [
        (
            "docs/how-to/query.md",
            "../../notebooks/roster_history.py",
            "notebooks/roster_history.py",
        ),
        ("docs/development.md", "../bench/README.md#profiling", "bench/README.md"),
        ("docs/index.md", "tutorial/first-district.md", "docs/tutorial/first-district.md"),
        ("docs/index.md", "https://example.org/x.md", None),
        ("docs/index.md", "#where-to-go", None),
    ],
)
def test_a_relative_link_names_the_repository_file_github_would_open(hooks, page, link, target):
    assert hooks.repository_target(page, link) == target


def test_repository_files_are_placed_under_the_mount_and_pages_stay_where_they_are(hooks):
    assert hooks.site_path("bench/README.md", "docs") == "repository/bench/README.md"
    assert hooks.site_path("docs/reference/cli.md", "docs") == "reference/cli.md"


def test_the_grades_how_to_explains_every_reason_a_record_is_not_sent():
    from rosterflow.schemas.gradebook import REASONS

    page = (ROOT / "docs/how-to/grades.md").read_text()
    assert [reason for reason in REASONS if f"| `{reason}` |" not in page] == []


def test_the_settings_reference_says_what_a_config_naming_no_file_does(tmp_path):
    from rosterflow.schemas.settings import Settings, SettingsError, load_settings

    page = (ROOT / "docs/reference/settings.md").read_text()
    intro = " ".join(page.split("<!-- generated")[0].split())
    assert "a missing file means every default" not in intro
    assert "no `--config` means every default" in intro
    assert "a `--config` that names no file is refused (exit 2, `no such settings file`)" in intro
    assert load_settings(None) == Settings()
    with pytest.raises(SettingsError, match="no such settings file"):
        load_settings(tmp_path / "missing.toml")


def test_the_feeds_reference_names_every_format_rule():
    from rosterflow.schemas.validate import _FORMAT_RULES

    page = " ".join((ROOT / "docs/reference/feeds.md").read_text().split())
    rules = {rule for rule, _ in _FORMAT_RULES.values()} - {"list", "user_ids", "year"}
    assert [rule for rule in sorted(rules) if f"(rule `{rule}`" not in page] == []
    assert "(`range.order`" in page and "(`date.order`" in page
