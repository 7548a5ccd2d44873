"""The documentation: the site builds with every warning an error, its generated reference
pages cover the code, and the README stays short, true to CI and linked into docs/."""

from __future__ import annotations

import ast
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


# 2-4 s of the 2 cores, so slow: CI's `pytest -m slow` builds the site (docs/development.md)
@pytest.mark.slow
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


def test_the_readme_links_into_docs_land_on_a_heading():
    # mkdocs checks the anchors of docs/ (validation.anchors), not those of the README
    from markdown.extensions.toc import slugify

    links = re.findall(r"\]\(([^)\s#]+\.md)#([^)\s]+)\)", README.read_text())
    assert links, "the README links to a section of docs/"
    for page, anchor in links:
        headings = re.findall(r"^#+ (.+)$", (ROOT / page).read_text(), re.MULTILINE)
        assert anchor in {slugify(heading, "-") for heading in headings}, f"{page}#{anchor}"


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
    tables = hooks.warehouse_columns()
    reference = hooks.warehouse_reference()
    assert {t.split(".")[0] for t in tables} == set(hooks.SCHEMAS)
    for table, columns in tables.items():
        assert f"### `{table}`" in reference
        for column, *_ in columns:
            assert f"| `{column}` |" in reference
    assert "**Grain:** one row per user in a course with a role." in reference


@pytest.mark.slow
def test_the_warehouse_reference_is_true_of_a_warehouse_syncs_wrote(
    hooks, school_changes_warehouse: Path
):
    """Against a warehouse written by syncs (resources, deletes, an undo among them): every
    table and view with its columns and types, as the reference lists them; no value outside
    a column's note that names its values (`a | b | c`); every derived state the grain of
    oneroster.derived names, and no other."""
    import duckdb

    reference = hooks.warehouse_reference()
    documented = {
        table: re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", body, re.MULTILINE)
        for table, body in re.findall(r"^### `([\w.]+)`\n(.*?)(?=^### |\Z)", reference, re.M | re.S)
    }
    notes = hooks.warehouse_notes(hooks.migration_files())
    with duckdb.connect(str(school_changes_warehouse), read_only=True) as con:
        real: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in con.sql(
            "select table_schema || '.' || table_name, column_name, lower(data_type) "
            "from information_schema.columns "
            "where table_catalog = current_database() and list_contains($schemas, table_schema) "
            "order by table_schema, table_name, ordinal_position",
            params={"schemas": list(hooks.SCHEMAS)},
        ).fetchall():
            real.setdefault(table, []).append((column, kind))
        assert documented == real
        for table, columns in real.items():
            for column, _ in columns:
                note = hooks.column_note(notes, table, column)
                if not re.fullmatch(r"\w+( \| \w+)+", note):
                    continue
                values = con.sql(f"select distinct {column} from {table}").fetchall()
                assert {v for (v,) in values} - {None} <= set(note.split(" | ")), (table, column)
        derived = con.sql("select tenant, name from oneroster.derived").fetchall()
    grain = notes["oneroster.derived"].grain
    assert sorted(name for _, name in derived) == sorted(re.findall(r"'(\w+)'", grain))
    assert len(derived) == len(set(derived)), "one row per tenant and name"


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


# --- every rule an issue can name ------------------------------------------------------------

PACKAGES = ("schemas", "transforms", "flows", "warehouse", "sis", "demo")


def _bindings(name: str, scopes: list[ast.AST]) -> list[tuple[ast.expr, int | None]]:
    """What `name` is bound to in the first of `scopes` (a function, then its module) that
    binds it: each assigned or iterated value, with the name's place when it is unpacked."""
    for scope in scopes:
        found = []
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign):
                pairs = [(target, node.value) for target in node.targets]
            elif isinstance(node, ast.For | ast.comprehension):
                pairs = [(node.target, node.iter)]
            else:
                continue
            for target, value in pairs:
                if isinstance(target, ast.Name) and target.id == name:
                    found.append((value, None))
                elif isinstance(target, ast.Tuple):
                    found += [
                        (value, place)
                        for place, element in enumerate(target.elts)
                        if isinstance(element, ast.Name) and element.id == name
                    ]
        if found:
            return found
    return []


def _rules_of(expr: ast.expr, scopes: list[ast.AST]) -> set[str]:
    """The rule ids an expression passed as a rule can be; `*` stands for a part made at run
    time. An expression it cannot read fails the test: write the rule where it can be read."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.Name):
        function = scopes[0]
        if isinstance(function, ast.FunctionDef) and expr.id == "rule":
            parameters = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
            if "rule" in [a.arg for a in parameters]:
                return set()  # a helper passing its own rule on: its callers name the rule
        rules: set[str] = set()
        for value, place in _bindings(expr.id, scopes):
            if isinstance(value, ast.Name):  # a loop over a tuple of tuples named before
                value = _bindings(value.id, scopes)[0][0]
            if place is None:
                rules |= _rules_of(value, scopes)
            elif isinstance(value, ast.Tuple | ast.List) and all(
                isinstance(row, ast.Tuple) for row in value.elts
            ):
                for row in value.elts:
                    rules |= _rules_of(row.elts[place], scopes)
            elif isinstance(value, ast.Tuple):
                rules |= _rules_of(value.elts[place], scopes)
        if rules:
            return rules
    if isinstance(expr, ast.JoinedStr):  # f"{PREFIX[kind]}.case": every value of the mapping
        rules = {""}
        for piece in expr.values:
            if isinstance(piece, ast.Constant):
                options = {piece.value}
            elif isinstance(piece.value, ast.Subscript) and isinstance(piece.value.value, ast.Name):
                ((mapping, _),) = _bindings(piece.value.value.id, scopes[-1:])
                options = {value.value for value in mapping.values}
            else:
                options = {"*"}
            rules = {done + option for done in rules for option in options}
        return rules
    if isinstance(expr, ast.Call):  # a polars expression: pl.lit, pl.when(...).then(...)
        from rosterflow.schemas.validate import _FORMAT_RULES

        rules, read = set(), False
        for node in ast.walk(expr):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            first = node.args[0] if node.args else None
            if node.func.attr == "lit" and first is not None:
                rules |= _rules_of(first, scopes)
                read = True
            elif node.func.attr == "format" and isinstance(first, ast.Constant):
                rules.add(first.value.replace("{}", "*"))
                read = True
            elif node.func.attr == "col" and getattr(first, "value", None) == "format_rule":
                rules |= {rule for rule, _ in _FORMAT_RULES.values()}
                read = True
        if read:
            return rules
    raise AssertionError(f"cannot tell the rule of `{ast.unparse(expr)}` (line {expr.lineno})")


def emitted_rules() -> set[str]:
    """Every rule id the package can put in an issue, read from its source: the rule argument
    (by keyword, or by its place) of every call to a function with a `rule` parameter
    (`issue_row`, `issues_from`, `file_issue` and the local helpers alike), and the
    expressions aliased `rule` (the pandera failures' rules, as `model_issues` names them)."""
    trees = {
        path: ast.parse(path.read_text())
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    helpers: dict[str, int | None] = {}  # a function taking a rule -> the rule's place
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                places = [a.arg for a in node.args.posonlyargs + node.args.args]
                if "rule" in places or "rule" in [a.arg for a in node.args.kwonlyargs]:
                    helpers[node.name] = places.index("rule") if "rule" in places else None
    rules: set[str] = set()
    for tree in trees.values():
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        for function in [*functions, tree]:
            own = set(ast.walk(function)) - {
                inner
                for nested in ast.walk(function)
                if nested is not function and isinstance(nested, ast.FunctionDef)
                for inner in ast.walk(nested)
            }
            scopes = [function, tree] if function is not tree else [tree]
            for call in own:
                if not isinstance(call, ast.Call):
                    continue
                name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
                expr = None
                if name == "alias" and call.args and getattr(call.args[0], "value", None) == "rule":
                    expr = call.func.value
                elif name in helpers:
                    keyword = [k.value for k in call.keywords if k.arg == "rule"]
                    place = helpers[name]
                    if keyword:
                        expr = keyword[0]
                    elif place is not None and len(call.args) > place:
                        expr = call.args[place]
                if expr is None:
                    continue
                rules |= _rules_of(expr, scopes)
    return rules


def test_the_rules_are_read_from_the_source():
    rules = emitted_rules()
    # a keyword, a helper's place, a name bound by unpacking, a loop, an f-string, pandera
    assert {
        "class.no_teacher",
        "file.unknown",
        "header.duplicate",
        "manifest.header",
        "reference",
        "identity.login_missing",
        "identity.adopt_ambiguous",
        "enum.case",
        "required",
        "date",
        "value.control",
        "feed.duplicate",
    } <= rules
    assert not {"rule", "error", "warning"} & rules


def test_the_feeds_reference_has_a_row_for_every_rule_and_no_other():
    page = (ROOT / "docs/reference/feeds.md").read_text()
    section = page.split("\n## Every rule\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (error|warning|both) \| \S", section, re.MULTILINE)
    documented = [rule for rule, _ in rows]
    assert len(documented) == len(set(documented)), "a rule has two rows"
    rules = emitted_rules()
    assert sorted(rules - set(documented)) == [], "rules without a row in feeds.md"
    assert sorted(set(documented) - rules) == [], "rows of rules the code does not have"
