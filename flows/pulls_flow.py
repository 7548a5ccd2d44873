"""The Prefect flow `rosterflow-pulls`: every district of a sources file pulled from its
OneRoster API and synced, each sync a subflow run of `rosterflow-sync` named by the URL.
`rosterflow serve --sources FILE` serves it on a schedule (`flows.sources` has the rest).
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from rosterflow.flows.sources import pull_sources, scan_exit_code
from rosterflow.flows.sync import sync_flow
from rosterflow.schemas.sources import load_sources


@flow(name="rosterflow-pulls", persist_result=False)
def pulls_flow(sources: str, warehouse: str = "rosterflow.duckdb") -> list[str]:
    """Pull and sync each district of the sources file in turn; one line per district. The
    flow run fails when a district could not be pulled or its run was not applied, so that
    the UI shows a scan that needs a person."""
    log = get_run_logger()
    outcomes = pull_sources(load_sources(sources), warehouse, sync_flow)
    lines = [outcome.line() for outcome in outcomes]
    for line in lines:
        log.info(line)
    if scan_exit_code(outcomes):
        raise RuntimeError("; ".join(o.line() for o in outcomes if o.outcome != "applied"))
    return lines
