"""Build hooks of the documentation site (registered in mkdocs.yml under `hooks:`).

The reference pages hold a marker line where the build writes what the code states, so that
the pages cannot drift from it:

- `<!-- generated: cli -->`: every command of the typer app `rosterflow.flows.cli:app`, with its
  usage, help text, arguments and options, read by introspecting the app;
- `<!-- generated: settings -->`: every section and key of
  `rosterflow.schemas.settings.Settings`, with its type or choices, default and description,
  and the defaults as a TOML file (a pydantic model, or the dataclasses it was before);
- `<!-- generated: warehouse -->`: every table and view of the warehouse, with its grain,
  comment and columns, read from the migrations `warehouse/migrations/*.sql`: they are applied
  to an in-memory DuckDB as a sync applies them (`rosterflow.warehouse.schema.migrate`, which
  also makes the table recording them) for the final columns and their types, and their SQL
  comments give each table's grain and each column's note, but where a later migration or the
  code made a comment untrue (`LATER_NOTES`: an applied migration never changes);
- `<!-- generated: migrations -->`: each migration file with its header comment.

Pages may also link to files of the repository outside docs/ with a relative path, as GitHub
resolves it (`../../bench/README.md`). The build checks that the file exists (a missing one
fails a strict build, like any broken link) and points the link at the repository
(`repo_url` in mkdocs.yml) or, without one, at a copy of the file in the site under
`repository/`: Markdown files are rendered as pages there, other files copied as they are.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import posixpath
import re
import types
import typing
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.rosterflow")

MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->[ \t]*$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
MOUNT = "repository"


# --- markdown helpers ---------------------------------------------------------------------


def outside_code(markdown: str, change: Callable[[str], str]) -> str:
    """`markdown` with `change` applied to everything but its fenced code blocks."""
    parts, start = [], 0
    for block in FENCE.finditer(markdown):
        parts += [change(markdown[start : block.start()]), block.group(0)]
        start = block.end()
    return "".join([*parts, change(markdown[start:])])


def escape(text: str, cell: bool = False) -> str:
    """Plain text as Markdown: code spans kept, `*`, `<`, `>` (and `|` in a table) escaped."""
    pieces = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(pieces), 2):
        piece = pieces[i].replace("\\", "\\\\").replace("*", "\\*")
        piece = piece.replace("<", "&lt;").replace(">", "&gt;")
        pieces[i] = piece.replace("|", "\\|") if cell else piece
    return "".join(pieces)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- the CLI, from the typer app ------------------------------------------------------------


def plain_help(text: str | None) -> list[str]:
    """A command's help as the terminal shows it, as Markdown paragraphs (rich markup read)."""
    from rich.text import Text

    if not text:
        return []
    text = inspect.cleandoc(text.split("\f")[0])
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [escape(Text.from_markup(p).plain) for p in paragraphs]


TYPE_NAMES = {Path: "PATH", int: "INTEGER", float: "NUMBER", str: "TEXT"}


def value_name(param) -> str:
    """What an option or argument takes, e.g. `PATH` or `NUMBER (0 to 1)`; '' for a flag."""
    if getattr(param, "is_flag", False):
        return ""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    name = TYPE_NAMES.get(annotation)
    if name is None:
        kind = getattr(param, "type", None)
        name = str(getattr(kind, "name", kind or "value")).upper()
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        name += f" ({low:g} to {high:g})"
    elif low is not None:
        name += f" (at least {low:g})"
    elif high is not None:
        name += f" (at most {high:g})"
    return name


def option_names(param) -> str:
    names = [*param.opts, *getattr(param, "secondary_opts", [])]
    return " / ".join(f"`{n}`" for n in names)


def default_text(param) -> str:
    default = getattr(param, "default", None)
    if default is None or not getattr(param, "show_default", True):
        return ""
    if isinstance(default, bool):
        return "" if param.is_flag and default is False else str(default).lower()
    if isinstance(default, Path):
        default = str(default)
    return f"`{default}`"


def usage(path: list[str], command) -> str:
    arguments = [
        p.name.upper() if p.required else f"[{p.name.upper()}]"
        for p in command.params
        if p.param_type_name == "argument"
    ]
    subcommands = ["COMMAND [ARGS]..."] if hasattr(command, "commands") else []
    return " ".join([*path, "[OPTIONS]", *arguments, *subcommands])


def command_markdown(path: list[str], command, level: int) -> list[str]:
    lines = [f"{'#' * level} `{' '.join(path)}`", "", f"```text\n{usage(path, command)}\n```", ""]
    for paragraph in plain_help(command.help):
        lines += [paragraph, ""]
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    arguments = [p for p in params if p.param_type_name == "argument"]
    options = [p for p in params if p.param_type_name == "option"]
    if arguments:
        rows = [
            [
                f"`{p.name.upper()}`",
                value_name(p),
                "yes" if p.required else "",
                " ".join(plain_help(getattr(p, "help", None))),
            ]
            for p in arguments
        ]
        lines += [table(["argument", "takes", "required", "what"], rows), ""]
    if options:
        rows = []
        for p in options:
            what = " ".join(plain_help(getattr(p, "help", None)))
            if p.envvar:
                what += f" Environment variable: `{p.envvar}`."
            rows.append(
                [
                    option_names(p),
                    value_name(p),
                    "required" if p.required else default_text(p),
                    what.replace("|", "\\|"),
                ]
            )
        rows.append(["`--help`", "", "", "Show the command's help and exit."])
        lines += [table(["option", "takes", "default", "what"], rows), ""]
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            lines += command_markdown([*path, name], sub, min(level + 1, 4))
    return lines


def cli_reference() -> str:
    import typer

    from rosterflow.flows.cli import app

    root = typer.main.get_command(app)
    lines = [f"```text\n{usage(['rosterflow'], root)}\n```", ""]
    for paragraph in plain_help(root.help):
        lines += [paragraph, ""]
    commands = getattr(root, "commands", {})
    lines += [
        table(
            ["command", "does"],
            [
                [f"[`{name}`](#rosterflow-{name})", (plain_help(c.help) or [""])[0]]
                for name, c in commands.items()
                if not getattr(c, "hidden", False)
            ],
        ),
        "",
    ]
    for name, command in commands.items():
        if not getattr(command, "hidden", False):
            lines += command_markdown(["rosterflow", name], command, 2)
    return "\n".join(lines)


# --- the settings, from the settings model ---------------------------------------------------


@dataclasses.dataclass
class Key:
    name: str
    annotation: object
    default: object
    description: str
    constraints: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Section:
    name: str
    description: str
    keys: list[Key]


def settings_sections(settings: type) -> list[Section]:
    """The sections of a settings class: a pydantic v2 model whose fields are section models
    (`Settings.model_fields[section].annotation.model_fields`), or frozen dataclasses."""
    if hasattr(settings, "model_fields"):
        sections = []
        for name, info in settings.model_fields.items():
            model = _model_of(info.annotation)
            keys = [
                Key(
                    key,
                    field.annotation,
                    field.get_default(call_default_factory=True),
                    field.description or "",
                    list(field.metadata),
                )
                for key, field in model.model_fields.items()
                if not field.exclude
            ]
            sections.append(Section(name, info.description or _doc(model), keys))
        return sections
    hints = typing.get_type_hints(settings)
    sections = []
    for section in dataclasses.fields(settings):
        kind = hints[section.name]
        kind_hints = typing.get_type_hints(kind)
        notes = _source_comments(kind)
        keys = []
        for key in dataclasses.fields(kind):
            if key.default is not dataclasses.MISSING:
                default = key.default
            elif key.default_factory is not dataclasses.MISSING:
                default = key.default_factory()
            else:
                default = None
            description = key.metadata.get("description") or notes.get(key.name, "")
            keys.append(Key(key.name, kind_hints[key.name], default, description))
        description = section.metadata.get("description") or _doc(kind)
        sections.append(Section(section.name, description, keys))
    return sections


def _model_of(annotation):
    """The section model of a field typed `Model`, `Annotated[Model, ...]` or `Model | None`."""
    if hasattr(annotation, "model_fields"):
        return annotation
    for argument in typing.get_args(annotation):
        if hasattr(argument, "model_fields"):
            return argument
    raise TypeError(f"{annotation!r}: a settings section must be a pydantic model")


def _doc(kind: type) -> str:
    """A class's own docstring (not the signature dataclasses or pydantic make up)."""
    doc = kind.__dict__.get("__doc__") or ""
    if not doc or doc.startswith(f"{kind.__name__}(") or "A base class for creating" in doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split())


def _source_comments(kind: type) -> dict[str, str]:
    """The `#` comments beside and above each field in a class's source (for dataclasses,
    which have no field descriptions)."""
    try:
        source = inspect.getsource(kind)
    except (OSError, TypeError):
        return {}
    notes, above = {}, []
    for line in source.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        field = re.match(r"(\w+)\s*:[^#]*?(?:#\s*(.*))?$", stripped)
        if field and not stripped.startswith(("def ", "return", "@")):
            notes[field[1]] = " ".join([*above, field[2] or ""]).strip()
        above = []
    return notes


def describe_type(annotation, constraints: list) -> str:
    """A key's type for people: `a` \\| `b` for choices, true or false, a number and its range."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return describe_type(args[0], [*constraints, *args[1:]])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        kinds = [describe_type(a, constraints) for a in args if a is not type(None)]
        return " or ".join(kinds) + (", or nothing" if type(None) in args else "")
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        name = "integer" if annotation is int else "number"
        low = next(
            (getattr(c, n) for c in constraints for n in ("ge", "gt") if hasattr(c, n)), None
        )
        high = next(
            (getattr(c, n) for c in constraints for n in ("le", "lt") if hasattr(c, n)), None
        )
        if low is not None and high is not None:
            return f"{name}, {low:g} to {high:g}"
        if low is not None:
            return f"{name}, at least {low:g}"
        return name
    if annotation is str:
        return "text"
    if origin in (tuple, list, set, frozenset) or annotation in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        return "list" + (f" of {describe_type(inner[0], [])}" if inner else "")
    if origin in (dict, Mapping) or annotation in (dict, types.MappingProxyType):
        return "table"
    if isinstance(annotation, type) and issubclass(annotation, Mapping):
        return "table"
    return escape(getattr(annotation, "__name__", str(annotation)), cell=True)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if hasattr(value, "model_dump"):
        return toml_value(value.model_dump())
    return json.dumps(str(value))


def settings_reference() -> str:
    from rosterflow.schemas.settings import Settings

    sections = settings_sections(Settings)
    toml = []
    for section in sections:
        toml += [
            f"[{section.name}]",
            *(f"{k.name} = {toml_value(k.default)}" for k in section.keys),
        ]
        toml.append("")
    lines = ["Every key with its default:", "", "```toml", *toml[:-1], "```", ""]
    for section in sections:
        lines += [f"## `[{section.name}]`", ""]
        if section.description:
            lines += [escape(section.description), ""]
        rows = [
            [
                f"`{key.name}`",
                describe_type(key.annotation, key.constraints),
                f"`{toml_value(key.default)}`",
                escape(key.description, cell=True),
            ]
            for key in section.keys
        ]
        lines += [table(["key", "takes", "default", "what"], rows), ""]
    return "\n".join(lines)


# --- the warehouse, from its migrations ------------------------------------------------------

CREATE = re.compile(
    r"create\s+(?:or\s+replace\s+)?(table|view)\s+(?:if\s+not\s+exists\s+)?([\w.]+)", re.I
)
ADD_COLUMN = re.compile(r"alter\s+table\s+([\w.]+)\s+add\s+column\s+(\w+)", re.I)
RENAME = re.compile(r"alter\s+table\s+([\w.]+)\s+rename\s+to\s+(\w+)", re.I)
COPY_OF = re.compile(r"\bas\s+select\s+\*\s+from\s+([\w.]+)", re.I)
VIEW_FROM = re.compile(r"\bfrom\s+([a-z_]+\.[\w]+)", re.I)
COLUMN = re.compile(r"^\s*(\w+)\s+[^-]*?--\s*(.*)$")


@dataclasses.dataclass
class TableNotes:
    """What the migrations' comments say about one table or view."""

    kind: str = "table"
    comment: str = ""
    grain: str = ""
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    like: str | None = None  # a table or view whose column notes also apply (`as select *`)
    files: list[str] = dataclasses.field(default_factory=list)
    order: int = 0  # the how-manieth table the migrations create
    made_by: str = ""  # what makes a table no migration creates


# the table `rosterflow.warehouse.schema.migrate` makes, before the first migration, to record
# each one it applies: no migration creates it
MIGRATIONS_TABLE = TableNotes(
    grain="one row per migration applied to the warehouse",
    comment="The warehouse's schema version is the highest `version`; a warehouse with a "
    "higher one than this rosterflow knows is refused.",
    columns={
        "version": "the migration's number, its file's prefix",
        "name": "the rest of its file's name, without `.sql`",
        "applied_at": "when it was applied",
    },
    made_by="made by `migrate` in `warehouse/schema.py`, before the first migration",
)

# What the comments of applied migrations state that later migrations or the code made untrue
# or incomplete; an applied migration never changes, so its comment is corrected here:
# (table, column) -> the column's note, (table, "") -> the table's grain. tests/docs checks them
# against a warehouse that syncs wrote.
LATER_NOTES: dict[tuple[str, str], str] = {
    # 006_resources.sql creates resources and their assignments, and audit.created names them
    ("audit.created", "entity"): (
        "domain | user | course | enrollment | observer | resource | class_resource | "
        "course_resource"
    ),
    # line_summaries and line_marks came with recall by lines (rosterflow.warehouse.records),
    # and since 009_kept_records.sql the derived state a run replaces is deleted, not kept
    ("oneroster.derived", ""): (
        "one row per tenant and name ('desired_courses', 'teacher_order', 'grade_levels', "
        "'closed_references', 'line_summaries', 'line_marks'): the state its last run left"
    ),
    ("oneroster.derived", "superseded_run_id"): (
        "null: since `009_kept_records.sql` the derived state a run replaces is deleted"
    ),
    # a run that carries a frame through as it read it keeps the stored blob, stamped with it
    ("oneroster.derived", "run_id"): (
        "the run that left it: that wrote it, or that kept it as the run before it had left it"
    ),
    # 008_grade_pushes.sql predates the PUTs a push records unanswered (sis.push.unanswered)
    ("audit.grade_pushes", "status"): (
        "the HTTP status the SIS answered; null: held back, never sent, or no answer came"
    ),
    ("audit.grade_pushes", "outcome"): (
        "sent (acknowledged) | refused | held (its category or line item was not accepted) | "
        "unanswered (no answer came to its PUT: the SIS may hold it, and the next push sends "
        "it again)"
    ),
    ("audit.grade_pushes", "reason"): (
        "a refusal: what the SIS said, else the status's phrase; held: why; unanswered: why no "
        "answer came, or what the SIS said of the retry it refused"
    ),
}


def migration_files() -> list[tuple[str, str]]:
    """(name, SQL) of each migration, in the order they are applied."""
    folder = resources.files("rosterflow.warehouse") / "migrations"
    found = [
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if re.fullmatch(r"\d+_\w+\.sql", entry.name)
    ]
    return sorted(found, key=lambda item: int(item[0].split("_")[0]))


def statements(sql: str) -> list[tuple[list[str], list[str]]]:
    """Each statement of a migration as (the comment lines right above it, its lines)."""
    found, comment, body = [], [], []
    for line in sql.splitlines():
        stripped = line.strip()
        if not body:
            if stripped.startswith("--"):
                comment.append(stripped[2:].strip())
                continue
            if not stripped:
                comment = []
                continue
        body.append(line)
        code = stripped.split("--")[0].rstrip()
        if code.endswith(";"):
            found.append((comment, body))
            comment, body = [], []
    return found


def split_grain(comment: str) -> tuple[str, str]:
    """The grain a comment states (`grain: one row per ...`) and the rest of the comment."""
    found = re.search(r"(\(\s*)?grain:\s*", comment)
    if not found:
        return "", comment
    start, rest = found.start(), comment[found.end() :]
    if found.group(1):
        end = rest.find(")")
        grain, after = rest[:end], rest[end + 1 :]
    else:
        end = re.search(r"\.(\s|$)", rest)
        grain, after = (rest[: end.start()], rest[end.end() :]) if end else (rest, "")
    remainder = (comment[:start].rstrip() + " " + after.strip()).strip()
    return grain.strip().rstrip("."), re.sub(r"\s+([,.;:])", r"\1", remainder)


def table_notes(files: list[tuple[str, str]]) -> dict[str, TableNotes]:
    """What the comments of the migrations say, per table, after every migration."""
    notes: dict[str, TableNotes] = {}
    made = 0
    for file, sql in files:
        for comment_lines, body in statements(sql):
            comment = " ".join(comment_lines)
            text = "\n".join(body)
            if created := CREATE.match(text.strip()):
                kind, name = created[1].lower(), created[2].lower()
                entry = notes.setdefault(name, TableNotes(order=made))
                made += 1
                entry.kind = kind
                grain, rest = split_grain(comment)
                if grain:
                    entry.grain = grain
                # a table's description is its first creation's comment, or one stating a grain:
                # the comments of later re-creations tell how the migration rebuilt it
                if rest and (grain or not entry.files):
                    entry.comment = rest
                for line in body[1:]:
                    column = COLUMN.match(line)
                    if column:
                        entry.columns[column[1].lower()] = column[2].strip()
                copied = COPY_OF.search(text) if kind == "table" else VIEW_FROM.search(text)
                entry.like = copied[1].lower() if copied else entry.like
                entry.files.append(file)
            elif added := ADD_COLUMN.match(text.strip()):
                entry = notes.setdefault(added[1].lower(), TableNotes())
                inline = re.search(r"--\s*(.*)$", body[0])
                note = inline[1] if inline else comment
                if note:
                    entry.columns[added[2].lower()] = note
                if file not in entry.files:
                    entry.files.append(file)
            elif renamed := RENAME.match(text.strip()):
                old = renamed[1].lower()
                new = f"{old.rsplit('.', 1)[0]}.{renamed[2].lower()}"
                moved = notes.pop(old, TableNotes())
                kept = notes.get(new)
                if kept is not None:  # a table rebuilt under a new name, then renamed back
                    moved.grain = moved.grain or kept.grain
                    moved.comment = moved.comment or kept.comment
                    moved.columns = {**kept.columns, **moved.columns}
                    moved.files = [*kept.files, *(f for f in moved.files if f not in kept.files)]
                if file not in moved.files:
                    moved.files.append(file)
                notes[new] = moved
    return notes


def warehouse_notes(files: list[tuple[str, str]]) -> dict[str, TableNotes]:
    """What the reference says of each table: the migrations' comments (`table_notes`), the
    table recording the migrations, and LATER_NOTES over both."""
    notes = {
        **table_notes(files),
        "audit.schema_migrations": dataclasses.replace(
            MIGRATIONS_TABLE, columns=dict(MIGRATIONS_TABLE.columns)
        ),
    }
    for (name, column), note in LATER_NOTES.items():
        entry = notes[name]
        if column:
            entry.columns[column] = note
        else:
            entry.grain = note
    return notes


def warehouse_columns() -> dict[str, list[tuple]]:
    """Every table and view of a new warehouse, migrated as a sync migrates one: (column, type,
    nullable, default) each."""
    import duckdb

    from rosterflow.warehouse.schema import migrate

    con = duckdb.connect()
    try:
        migrate(con)
        rows = con.execute(
            "select schema_name || '.' || table_name, column_name, data_type, is_nullable,"
            " column_default from duckdb_columns() where not internal"
            " order by schema_name, table_name, column_index"
        ).fetchall()
    finally:
        con.close()
    tables: dict[str, list[tuple]] = {}
    for name, *column in rows:
        tables.setdefault(name, []).append(tuple(column))
    return tables


SCHEMAS = ("lms", "history", "audit", "oneroster")


def column_note(notes: dict[str, TableNotes], table: str, column: str) -> str:
    """A column's note, from its table or the tables its columns are copied from."""
    seen = set()
    while table in notes and table not in seen:
        seen.add(table)
        if column in notes[table].columns:
            return notes[table].columns[column]
        table = notes[table].like or ""
    return ""


def missing_grains() -> list[str]:
    """The tables and views whose DDL states no grain."""
    notes = warehouse_notes(migration_files())
    return sorted(t for t in warehouse_columns() if not notes.get(t, TableNotes()).grain)


def warehouse_reference() -> str:
    notes, tables = warehouse_notes(migration_files()), warehouse_columns()
    schemas = {schema: i for i, schema in enumerate(SCHEMAS)}

    def place(name: str) -> tuple:
        """Schema by schema, tables as the migrations create them; x_closed right after x."""
        base = name.removesuffix("_closed")
        first = notes.get(base, notes.get(name, TableNotes(order=999)))
        return schemas.get(name.split(".")[0], 99), first.order, name != base, name

    lines = []
    current = None
    for name in sorted(tables, key=place):
        schema = name.split(".")[0]
        if schema != current:
            lines += [f"## `{schema}`", ""]
            current = schema
        entry = notes.get(name, TableNotes())
        lines += [f"### `{name}`", ""]
        where = ", ".join(f"`{f}`" for f in entry.files)
        where = f"defined in {where}" if where else entry.made_by or "defined in no migration"
        lines += [f"*{entry.kind}, {where}*", ""]
        if entry.grain:
            lines += [f"**Grain:** {escape(entry.grain)}.", ""]
        else:
            lines += ["**Grain:** not stated beside its DDL.", ""]
        if entry.comment:
            lines += [escape(entry.comment), ""]
        rows = [
            [
                f"`{column}`",
                f"`{kind.lower()}`",
                "" if nullable else "not null",
                f"`{default}`" if default is not None else "",
                escape(column_note(notes, name, column), cell=True),
            ]
            for column, kind, nullable, default in tables[name]
        ]
        lines += [table(["column", "type", "null", "default", "note"], rows), ""]
    return "\n".join(lines)


def migrations_reference() -> str:
    """Each migration with the comment at its top, its numbered points as a list."""
    lines = []
    for name, sql in migration_files():
        header = []
        for line in sql.splitlines():
            if not line.startswith("--"):
                break
            header.append(line[2:].strip())
        paragraphs, current = [], []
        for line in [*header, ""]:
            if (not line or re.match(r"\d+\.\s", line)) and current:
                paragraphs.append(" ".join(current))
                current = []
            if line:
                current.append(line)
        lines.append(f"- **`{name}`**" + (f": {escape(paragraphs[0])}" if paragraphs else ""))
        lines += [
            f"    {escape(p)}" if re.match(r"\d+\.\s", p) else f"\n    {escape(p)}"
            for p in paragraphs[1:]
        ]
        lines.append("")
    return "\n".join(lines)


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "settings": settings_reference,
    "warehouse": warehouse_reference,
    "migrations": migrations_reference,
}


# --- links into the repository --------------------------------------------------------------


def repository_root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def repository_target(page_path: str, link: str) -> str | None:
    """The repository path a relative link of the file at `page_path` (a repository path)
    points at, or None for a URL, an anchor or an absolute path."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) or link.startswith(("#", "/")):
        return None
    path = link.split("#")[0].split("?")[0]
    if not path:
        return None
    return posixpath.normpath(posixpath.join(posixpath.dirname(page_path), path))


def site_path(repo_path: str, docs: str) -> str:
    """Where a repository file is in the site's sources: docs/x is x, others under MOUNT."""
    prefix = docs.rstrip("/") + "/"
    return repo_path[len(prefix) :] if repo_path.startswith(prefix) else f"{MOUNT}/{repo_path}"


def linked_outside(markdown: str, page_path: str, docs: str) -> list[str]:
    """The repository paths outside docs/ that a page's links point at."""
    found = []
    outside_code(markdown, lambda text: found.extend(m[2] for m in LINK.finditer(text)) or text)
    targets = (repository_target(page_path, link) for link in found)
    return [t for t in targets if t and not t.startswith(docs.rstrip("/") + "/")]


def on_files(files, config):
    """Mount the repository files the pages link to (and those that they link to)."""
    from mkdocs.structure.files import File, InclusionLevel

    if config.repo_url:
        return files
    root = repository_root(config)
    docs = Path(config.docs_dir).resolve().relative_to(root).as_posix()
    waiting = [
        (f"{docs}/{f.src_uri}", Path(f.abs_src_path).read_text(encoding="utf-8"))
        for f in files.documentation_pages()
    ]
    mounted = set()
    while waiting:
        page_path, markdown = waiting.pop()
        for target in linked_outside(markdown, page_path, docs):
            source = root / target
            if target in mounted or target.startswith("..") or not source.is_file():
                continue  # a missing file is reported where the link is rewritten
            mounted.add(target)
            # beside the site's pages, not in its navigation (and not excluded as *.py)
            mount = File.generated(
                config,
                f"{MOUNT}/{target}",
                abs_src_path=str(source),
                inclusion=InclusionLevel.NOT_IN_NAV,
            )
            files.append(mount)
            if source.suffix == ".md":
                waiting.append((target, source.read_text(encoding="utf-8")))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    def generate(found: re.Match) -> str:
        generator = GENERATORS.get(found[1])
        if generator is None:
            log.warning("%s: no generator named %r", page.file.src_uri, found[1])
            return found[0]
        return generator()

    markdown = MARKER.sub(generate, markdown)
    return outside_code(markdown, lambda text: repository_links(text, page, config))


def repository_links(text: str, page, config) -> str:
    """Links from a page to repository files outside docs/, pointed where they resolve."""
    root = repository_root(config)
    docs = Path(config.docs_dir).resolve().relative_to(root).as_posix()
    src = page.file.src_uri
    page_path = src[len(MOUNT) + 1 :] if src.startswith(f"{MOUNT}/") else f"{docs}/{src}"

    def point(found: re.Match) -> str:
        link = found[2]
        target = repository_target(page_path, link)
        if target is None:
            return found[0]
        in_docs = target.startswith(docs + "/")
        if in_docs and not src.startswith(f"{MOUNT}/"):
            return found[0]  # a link between pages: mkdocs checks it
        if not in_docs and (target.startswith("..") or not (root / target).exists()):
            log.warning("%s: link %r points at %s, not a file of the repository", src, link, target)
            return found[0]
        anchor = link[len(link.split("#")[0]) :]
        if config.repo_url and not in_docs:
            url = f"{config.repo_url.rstrip('/')}/blob/HEAD/{target}{anchor}"
        elif (root / target).is_dir():
            log.warning("%s: link %r names a folder; link a file in it", src, link)
            return found[0]
        else:
            url = posixpath.relpath(site_path(target, docs), posixpath.dirname(src) or ".")
            url += anchor
        return f"{found[1]}{url}{found[3]}"

    return LINK.sub(point, text)
