"""Every notebook under notebooks/ runs headless, every cell, against real warehouses.

A notebook is run with `marimo export html`: it executes every cell in a kernel, renders every
output (a chart that Vega-Lite's schema rejects fails like a cell that raises) and exits
non-zero when any cell failed. Running the file as a script (`python notebooks/x.py`) also
exits non-zero, but stops at the first error and leaves nothing to look at; the export runs
every cell it can and gives the rendered page, which the tests read for what an analyst sees.
All exports run at once, in a pool, to keep the suite fast.
"""

from __future__ import annotations

import hashlib
import html as html_text
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

from rosterflow.warehouse.catalog import catalog_sql
from rosterflow.warehouse.layout import Layout, is_layout

ROOT = Path(__file__).resolve().parents[2]
# the notebooks, and the modules beside them that they import (`_shared.py`), not notebooks
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.py") if not p.name.startswith("_"))
MODULES = sorted((ROOT / "notebooks").glob("_*.py"))
# a warehouse file each, but `layout` and `empty_layout`: a per-tenant layout's template
WAREHOUSES = (
    "demo",
    "months",
    "multi_tenant",
    "operations",
    "school_changes",
    "empty",
    "missing",
    "layout",
    "empty_layout",
)
VEGA_LITE = "application/vnd.vegalite"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Export:
    returncode: int
    log: str  # marimo's stdout and stderr
    html: str  # the rendered notebook, outputs only (no code)


def export_html(notebook: Path, warehouse: Path | str, out_dir: Path) -> Export:
    """Run `notebook` headless against `warehouse`; its outputs, as marimo renders them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # marimo saves a session snapshot in __marimo__/ beside the notebook it runs: run a copy,
    # so that the snapshot lands in out_dir and not in notebooks/; the modules it imports from
    # its folder (which marimo puts on sys.path) beside it, as in notebooks/
    copy = shutil.copyfile(notebook, out_dir / notebook.name)
    for module in MODULES:
        shutil.copyfile(module, out_dir / module.name)
    out = out_dir / f"{notebook.stem}.html"
    env = {
        **os.environ,
        "ROSTERFLOW_WAREHOUSE": str(warehouse),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "marimo",
            "export",
            "html",
            "--no-include-code",
            "--no-sandbox",
            "--force",
            str(copy),
            "--output",
            str(out),
        ],
        cwd=out_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    html = out.read_text(encoding="utf-8") if out.exists() else ""
    return Export(result.returncode, result.stdout + result.stderr, html)


@pytest.fixture(scope="session")
def warehouses(
    demo_warehouse: Path,
    months_warehouse: Path,
    multi_tenant_warehouse: Path,
    operations_warehouse: Path,
    school_changes_warehouse: Path,
    empty_warehouse: Path,
    layout_warehouse: str,
    empty_layout_warehouse: str,
    built_once,
) -> dict[str, Path | str]:
    return {
        "demo": demo_warehouse,
        "months": months_warehouse,
        "multi_tenant": multi_tenant_warehouse,
        "operations": operations_warehouse,
        "school_changes": school_changes_warehouse,
        "empty": empty_warehouse,
        # where every worker's tests look (`exports` runs once, on one of them)
        "missing": Path(built_once("missing", lambda folder: str(folder / "nowhere.duckdb"))),
        "layout": layout_warehouse,
        "empty_layout": empty_layout_warehouse,
    }


def _sha256(warehouse: Path | str) -> str:
    """The contents of the warehouse file, or of every file under a layout's folder."""
    if is_layout(warehouse):
        root = Layout(str(warehouse)).root
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    else:
        files = [Path(warehouse)] if Path(warehouse).exists() else []
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest() if files else ""


@pytest.fixture(scope="session")
def exports(warehouses: dict[str, Path | str], built_once) -> dict[tuple[str, str], Export]:
    """Every notebook against every warehouse, run concurrently; the warehouses untouched. Run
    once, whichever worker asks first (`built_once`): 18 exports of a few seconds each."""

    def export_all(out_root: Path) -> list[tuple[str, str, int, str, str]]:
        before = {kind: _sha256(path) for kind, path in warehouses.items()}
        with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
            jobs: dict[tuple[str, str], Future[Export]] = {
                (notebook.stem, kind): pool.submit(
                    export_html, notebook, warehouse, out_root / f"{notebook.stem}-{kind}"
                )
                for notebook in NOTEBOOKS
                for kind, warehouse in warehouses.items()
            }
            done = {key: job.result() for key, job in jobs.items()}
        after = {kind: _sha256(path) for kind, path in warehouses.items()}
        assert after == before, "a notebook changed a warehouse it should only read"
        assert not Path(warehouses["missing"]).exists(), "a notebook created the missing warehouse"
        assert not Layout(str(warehouses["empty_layout"])).root.exists(), (
            "a notebook created a layout"
        )
        return [(stem, kind, e.returncode, e.log, e.html) for (stem, kind), e in done.items()]

    return {
        (stem, kind): Export(returncode, log, html)
        for stem, kind, returncode, log, html in built_once("notebook_exports", export_all)
    }


def test_there_are_notebooks():
    assert {"roster_history", "sync_audit"} <= {notebook.stem for notebook in NOTEBOOKS}
    assert all("app = marimo.App(" in notebook.read_text() for notebook in NOTEBOOKS)
    assert not any("marimo.App(" in module.read_text() for module in MODULES)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_declares_its_dependencies(notebook: Path):
    """PEP 723: `uv run` / `marimo edit --sandbox` can build the notebook's environment."""
    text = notebook.read_text(encoding="utf-8")
    assert text.startswith("# /// script\n"), "the PEP 723 block opens the file"
    block = text.split("# ///\n", 1)[0]
    metadata = tomllib.loads(
        "\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines()[1:])
    )
    names = {
        dep.split(">")[0].split("=")[0].split("<")[0].strip() for dep in metadata["dependencies"]
    }
    assert {"marimo", "altair", "duckdb", "polars", "rosterflow"} <= names
    assert "rosterflow" in metadata["tool"]["uv"]["sources"]
    assert "app = marimo.App(" in text and 'if __name__ == "__main__":\n    app.run()' in text


@pytest.mark.parametrize("kind", WAREHOUSES)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_every_cell_without_error(
    exports: dict[tuple[str, str], Export], notebook: Path, kind: str
):
    export = exports[notebook.stem, kind]
    assert export.returncode == 0, f"{notebook.name} on the {kind} warehouse:\n{export.log}"
    assert export.html, export.log
    assert "Traceback" not in export.log, export.log


@pytest.mark.parametrize("kind", ("empty", "empty_layout"))
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_an_empty_warehouse_gets_a_friendly_message(
    exports: dict[tuple[str, str], Export], notebook: Path, kind: str
):
    assert "No sync runs yet" in exports[notebook.stem, kind].html


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_missing_warehouse_gets_a_friendly_message(
    exports: dict[tuple[str, str], Export], notebook: Path
):
    assert "The warehouse cannot be opened" in exports[notebook.stem, "missing"].html


def test_roster_history_on_the_demo(exports: dict[tuple[str, str], Export]):
    html = exports["roster_history", "demo"].html
    # two enrollment trends and the student's enrollment periods
    assert html.count(VEGA_LITE) == 3
    for query in ("enrollments_over_time", "section_roster", "student_schools", "student_events"):
        assert f"SQL: {query}" in html, query
    # the student who moved school is the one shown first
    assert "moves: 1 " in html


def test_sync_audit_on_the_demo(exports: dict[tuple[str, str], Export]):
    html = exports["sync_audit", "demo"].html
    # changes per run, issues per run
    assert html.count(VEGA_LITE) == 2
    for query in (
        "runs",
        "changes_per_run",
        "issues_per_run",
        "rejected_runs",
        "held_runs",
        "decisions",
        "run_changes",
        "grade_runs",
        "grade_refusals",
    ):
        assert f"SQL: {query}" in html, query
    # the run shown by default is the latest one that changed something: the second sync
    assert "1 user move" in html
    # nothing held, nothing decided, no grades sent
    assert "No held run of tenant" in html
    assert "was approved, discarded or undone" in html
    assert "were exported or pushed yet" in html


def test_sync_audit_shows_held_runs_and_decisions(exports: dict[tuple[str, str], Export]):
    """The operations warehouse: the demo's runs 1-3, then held run 4 discarded, held run 5
    approved by run 6, run 6 undone by run 7, and held run 8 waiting for a decision."""
    html = exports["sync_audit", "operations"].html
    # the runs overview says what became of each run decided about
    overview = html[: html.index("SQL: runs")]
    for decision in ("discarded", "approved by run 6", "undone by run 7"):
        assert decision in overview, decision
    section = html[html.index("Held runs and decisions") : html.index("SQL: decisions")]
    # the held run still waiting, with its planned changes, and only that one
    assert "Run #8 waits for a decision" in section
    assert "rosterflow approve 8" in section and "changes planned" in section
    assert "Run #4 waits" not in section and "Run #5 waits" not in section
    # the decisions log: each decision, and the run that carried it out
    assert "was approved, discarded or undone" not in section
    assert "discarded" in section
    assert "approved held run 5" in section  # run 6's message
    assert "undid run 6" in section  # run 7's message


def test_sync_audit_shows_what_each_grades_push_sent_and_what_the_sis_refused(
    exports: dict[tuple[str, str], Export],
):
    """The operations warehouse ends with a push of two sections' homework, one result refused
    as locked, and a second push refused it again (tests/notebooks/conftest.py:
    push_homework): one record not accepted, not one per push that sent it."""
    html = _shown(exports["sync_audit", "operations"])
    section = html[html.index("Grades sent back to the SIS") : html.index("SQL: grade_refusals")]
    assert "were exported or pushed yet" not in section
    assert "1 record not accepted" in section
    assert "data-value='2' data-label='\"pushes\"'" in section
    assert "data-value='1' data-label='\"refused, not accepted since\"'" in section
    assert "the grade is locked: the term is closed" in section
    assert "/ims/oneroster/v1p1" in section  # where the push went


def test_sync_audit_lists_every_record_each_grades_push_sent(
    exports: dict[tuple[str, str], Export], operations_warehouse: Path
):
    """The first push of the operations warehouse sent the category, both line items and every
    result but the locked one; the second sent nothing (the SIS held the rest already): the
    acknowledged records are listed, as the push sent them (category, line items, results), and
    the refused one is not among them."""
    html = _shown(exports["sync_audit", "operations"])
    section = html[html.index("Grades sent back to the SIS") : html.index("SQL: grade_sent")]
    with duckdb.connect(str(operations_warehouse), read_only=True) as con:
        acknowledged = con.execute(
            """
            select entity, sourced_id
            from audit.grade_pushes
            where outcome = 'sent'
            order by
                grade_run_id desc,
                case entity when 'category' then 1 when 'lineItem' then 2 else 3 end,
                sourced_id
            """
        ).fetchall()
    assert {entity for entity, _ in acknowledged} == {"category", "lineItem", "result"}
    headline = f"{len(acknowledged)} records sent"
    assert headline in section
    sent_list = section[section.index(headline) : section.index("record not accepted")]
    assert "and acknowledged by the SIS, in 1 of 2 pushes:" in sent_list
    assert f"data-total-rows='{len(acknowledged)}'" in sent_list
    # the page holds the table's first page of rows, as JSON in a JSON string; the refused
    # result (res-7001-<lowest user>) sorts first among the results and would be on it
    (page_json,) = re.findall(r"data-data='(\"\[.*?\]\")'", sent_list)
    first_page = json.loads(json.loads(page_json))
    assert [(row["entity"], row["sourced_id"]) for row in first_page] == acknowledged[:10]
    assert {row["grade_run_id"] for row in first_page} == {1}
    assert {row["status"] for row in first_page} == {201}


def test_sync_audit_says_the_duckdb_cli_it_suggests_is_not_installed_with_rosterflow(
    exports: dict[tuple[str, str], Export], operations_warehouse: Path
):
    """The page offers a DuckDB CLI session to run its SQL panels in: an analyst who has only
    rosterflow is told the CLI is not part of it, and where the Python form is."""
    # the page's JSON writes the paragraph's line breaks as `\\n`
    shown = _shown(exports["sync_audit", "operations"]).replace("\\n", " ")
    start = shown.index("panel runs as it is")
    intro = shown[start : start + 400]
    assert f"duckdb -readonly {operations_warehouse}" in intro
    assert "(the CLI is not installed with rosterflow)" in intro
    assert "docs/how-to/query.md" in intro


def test_roster_history_shows_a_return_to_an_earlier_school(exports: dict[tuple[str, str], Export]):
    """The school changes warehouse opens on the student who moved and came back, first of
    those who moved twice by name (tests/notebooks/school_changes.py: RETURNER)."""
    shown = _shown(exports["roster_history", "school_changes"])
    summary = (
        "Schools over time: Madison High School → Emerson Elementary School → Madison High School"
        " · moves: 2 · enrollments:"
    )
    assert json.dumps(summary)[1:-1] in shown  # as the page's JSON writes it, `→` as `\u2192`


def test_the_first_tenant_is_shown_even_without_history(exports: dict[tuple[str, str], Export]):
    """The multi-tenant warehouse opens on `acme`, whose only run was rejected."""
    assert (
        "No enrollments in the history of tenant" in exports["roster_history", "multi_tenant"].html
    )
    audit = exports["sync_audit", "multi_tenant"].html
    assert "changed nothing" in audit
    assert "No run of tenant" in audit  # ... changed anything yet


def _shown(export: Export) -> str:
    """The rendered page with marimo's escapes undone: what an analyst reads."""
    return html_text.unescape(export.html.replace("\\u0026", "&"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_layout_is_read_as_one_warehouse(exports: dict[tuple[str, str], Export], notebook: Path):
    """Every tenant of every file in the tenant picker, and the first one shown as in a
    one-file warehouse; the page says how to run its SQL against the layout."""
    shown = _shown(exports[notebook.stem, "layout"])
    assert 'data-options=\'["demo","zeta"]\'' in shown
    assert "every tenant's file of the layout" in shown
    assert (
        "rosterflow catalog --warehouse" in shown
        and "> catalog.sql && duckdb -init catalog.sql" in shown
    )
    if notebook.stem == "roster_history":
        assert "moves: 1 " in shown  # the demo's student who moved school, as on the demo
    else:
        assert "1 user move" in shown
        assert "No held run of tenant" in shown


def _load(notebook: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"notebook_{notebook.stem}", notebook)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ("demo", "months", "operations", "school_changes", "layout"))
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_sql_shown_runs_as_it_is(
    notebook: Path, kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
):
    """What an analyst copies from a notebook's SQL panels runs in DuckDB as it is and gives
    what the notebook showed (the notebook runs in this process, through marimo's API). A
    layout's is run in a session given its catalog, as `duckdb -init catalog.sql` is."""
    warehouse: Path | str = request.getfixturevalue(f"{kind}_warehouse")
    monkeypatch.setenv("ROSTERFLOW_WAREHOUSE", str(warehouse))
    monkeypatch.syspath_prepend(str(notebook.parent))  # as marimo does, for `_shared`
    module = _load(notebook)  # the setup cell reads the variable on import
    module.app.run()
    shown = module.WAREHOUSE.shown_sql
    assert shown, "the notebook shows no SQL"
    if is_layout(warehouse):
        con = duckdb.connect()
        con.execute(catalog_sql(str(warehouse)))
    else:
        con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for name, text in shown.items():
            assert text.startswith(f"prepare {name} as\n"), name
            assert "$" not in text.rsplit("execute", 1)[1], f"{name}: an unbound parameter"
            con.sql(text).fetchall()
    finally:
        con.close()


def vega_specs(export: Export) -> list[dict]:
    """The Vega-Lite spec of every chart on the exported page: marimo keeps each cell's output
    HTML in the page's session JSON, a chart as a mime renderer whose data is the spec."""
    start = export.html.index('"session": ') + len('"session": ')
    session, _ = json.JSONDecoder().raw_decode(export.html, start)
    pages = [
        output.get("data", {}).get("text/html", "")
        for cell in session["cells"]
        for output in cell["outputs"]
    ]
    return [
        json.loads(json.loads(html_text.unescape(data)))
        for page in pages
        for mime, data in re.findall(r"data-mime='([^']*)' data-data='([^']*)'", page)
        if json.loads(html_text.unescape(mime)).startswith(VEGA_LITE)
    ]


def x_encodings(spec: object) -> list[dict]:
    """Every x and x2 encoding of a spec, in its layers, facets and concatenations."""
    if isinstance(spec, list):
        return [x for part in spec for x in x_encodings(part)]
    if not isinstance(spec, dict):
        return []
    here = [
        encoding[channel]
        for encoding in [spec.get("encoding", {})]
        for channel in ("x", "x2")
        if channel in encoding
    ]
    return here + [x for key, part in spec.items() if key != "encoding" for x in x_encodings(part)]


# a run's label on an axis: its id, then its start, a line each (see notebooks/_shared.py)
RUN_LABEL = re.compile(r"#(\d+)\n(\d{4}-\d{2}-\d{2})(\n\d{2}:\d{2}(:\d{2})?)?")


@pytest.mark.parametrize("kind", ("demo", "months", "operations", "school_changes", "layout"))
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_charts_plot_runs_in_order_labelled_with_their_id_and_start(
    exports: dict[tuple[str, str], Export], notebook: Path, kind: str
):
    """Every chart has runs across, on an ordinal axis in run order, not on a time scale: the
    demo's syncs are seconds apart (a time axis read `.900`, `.300`), a district's months. A
    run is labelled with its id and its start: the date alone when the runs are on different
    days (the months warehouse), with the time when some share a day (the demo's)."""
    specs = vega_specs(exports[notebook.stem, kind])
    assert specs, "no chart on the page"
    for spec in specs:
        axes = x_encodings(spec)
        assert axes, spec
        for x in axes:
            assert (x["type"], x["field"]) == ("ordinal", "run"), x
            labels = [RUN_LABEL.fullmatch(label) for label in x["sort"]]
            assert all(labels), x["sort"]
            run_ids = [int(label[1]) for label in labels]
            assert run_ids == sorted(run_ids), x["sort"]
            one_a_day = len({label[2] for label in labels}) == len(labels)
            with_time = [label[3] is not None for label in labels]
            assert with_time == [not one_a_day] * len(labels), x["sort"]
            if kind == "months":
                assert one_a_day, x["sort"]
