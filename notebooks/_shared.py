"""What the analyst notebooks share; not a notebook itself.

marimo puts a notebook's folder first on `sys.path`, as Python does for a script, so each
notebook imports this module as `_shared` under `marimo edit`, `marimo run`, `marimo export`
(the tests), `--sandbox` and `python notebooks/x.py` alike; it needs nothing beyond the
notebooks' own PEP 723 dependencies. Reading the warehouse (where it is, its tenants, each
query's copyable form) is `rosterflow.warehouse.readonly`'s; this module holds the marimo and
Altair pieces the notebooks draw it with: the tenant picker, the SQL panels and the run axis.
"""

from __future__ import annotations

from functools import partial

import altair as alt
import marimo as mo
import polars as pl

from rosterflow.warehouse.catalog import TenantFileHeld
from rosterflow.warehouse.readonly import WAREHOUSE_VARIABLE, ReadOnlyWarehouse
from rosterflow.warehouse.schema import WarehouseError

# how a run's time is written under its id, the shortest that tells the runs apart: dates for
# syncs days or months apart, down to the second for the demo's syncs, seconds apart
RUN_TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%d\n%H:%M", "%Y-%m-%d\n%H:%M:%S")
# a chart's width per run (`alt.Step(RUN_STEP)`): room for a run's label, a date wide
RUN_STEP = 64


def unreadable_callout(location: str, error: WarehouseError) -> mo.Html:
    """A word of help for a warehouse that cannot be opened: a tenant's file of a layout that
    another process holds (the tenant's sync, most likely) is named with its tenant (the file's
    name percent-encodes it) and waited out, not pointed away from; any other warehouse that
    cannot be opened is pointed at one a sync wrote."""
    if isinstance(error, TenantFileHeld):
        return mo.callout(
            mo.md(
                f"**The warehouse file of tenant {error.tenant!r} is in use** by another "
                f"process, most likely a sync of the tenant. {error}\n\n"
                f"Every tenant's file of `{location}` is read at once, and nothing is shown "
                "rather than a result without that tenant's rows: reload this notebook once "
                "that process is done."
            ),
            kind="warn",
        )
    return mo.callout(
        mo.md(
            f"**The warehouse cannot be opened.** {error}\n\n"
            f"Point `{WAREHOUSE_VARIABLE}` at a warehouse written by `rosterflow sync` "
            "(or create one with `rosterflow demo`)."
        ),
        kind="warn",
    )


def _stop_unreadable(location: str, error: WarehouseError) -> None:
    mo.stop(True, unreadable_callout(location, error))


def pick_tenant(warehouse: ReadOnlyWarehouse) -> mo.ui.dropdown:
    """A dropdown of the warehouse's tenants, on the first; the cell stops with a word of help
    when the warehouse cannot be opened (`unreadable_callout`) or has no sync run yet. From
    then on, any query of `warehouse` that cannot open it (a tenant's sync began since) stops
    its cell with the same word of help rather than a traceback."""
    warehouse.when_unreadable = partial(_stop_unreadable, warehouse.location)
    try:
        tenants = warehouse.tenants()
    except WarehouseError as error:
        _stop_unreadable(warehouse.location, error)
        raise  # (not reached: the cell stopped)
    mo.stop(
        not tenants,
        mo.callout(
            mo.md(
                f"**No sync runs yet** in `{warehouse.location}`. Run `rosterflow sync FEED` "
                "(or `rosterflow demo`) and reload this notebook."
            ),
            kind="info",
        ),
    )
    return mo.ui.dropdown(tenants, value=tenants[0], label="Tenant", searchable=True)


def picker_options(options: list[tuple[str, object]], name: str = "id") -> dict[str, object]:
    """Dropdown options by label, each label once: a label already taken is told apart by its
    value (`name` N), so that no option is lost. A dict keeps one value per label: two rows
    of history under one label, a student deleted and sent again under a new id, would
    otherwise leave one of them out of the dropdown."""
    labels: dict[str, object] = {}
    for label, value in options:
        labels[f"{label} · {name} {value}" if label in labels else label] = value
    return labels


def sql_panel(warehouse: ReadOnlyWarehouse, name: str, sql: str, **params: object) -> mo.Html:
    """A folded panel with the copyable form of the query, which the warehouse remembers as
    shown."""
    copyable = warehouse.show(name, sql, **params)
    return mo.accordion({f"SQL: {name}": mo.md(f"```sql\n{copyable}\n```")})


def with_run_label(frame: pl.DataFrame, at: str, run_id: str = "run_id") -> pl.DataFrame:
    """`frame` with a `run` column naming each run on a chart's axis: its id, then its time
    (`at`) in the first of RUN_TIME_FORMATS that tells the frame's runs apart, a line each."""
    runs = frame.select(run_id, at).unique()
    times = runs.get_column(at)
    time_format = next(
        (f for f in RUN_TIME_FORMATS if times.dt.strftime(f).n_unique() == runs.height),
        RUN_TIME_FORMATS[-1],
    )
    return frame.with_columns(
        pl.format("#{}\n{}", pl.col(run_id), pl.col(at).dt.strftime(time_format)).alias("run")
    )


def run_axis(frame: pl.DataFrame, title: str = "run (UTC)", run_id: str = "run_id") -> alt.X:
    """Runs across in their order, evenly spaced (the demo's syncs are seconds apart, a
    district's days or months: on a time scale either would crowd), each labelled with the
    `run` column of `with_run_label`; where they would overlap, every other label is left out
    until they do not."""
    order = frame.sort(run_id).get_column("run").unique(maintain_order=True).to_list()
    return alt.X(
        "run:O",
        sort=order,
        title=title,
        axis=alt.Axis(
            labelAngle=0,
            labelExpr="split(datum.label, '\\n')",
            labelOverlap="parity",
            labelSeparation=8,
            labelPadding=4,
        ),
    )
