"""`rosterflow serve --pool`: a Prefect server that cannot be reached ends the command in the
one line every other command gives (the URL, without its user:password@, and what to do
instead), not "--pool NAME: cannot create the work pool or deployment ([Errno 111] Connection
refused)", which named no server."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once closed: nothing listens there


@pytest.mark.slow  # (Prefect's client, imported and tried: about 3 s)
def test_a_pool_on_a_server_that_cannot_be_reached_is_one_line_naming_the_server(tmp_path):
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    (tmp_path / "drop").mkdir()
    url = f"http://ops:Hunter2@127.0.0.1:{_closed_port()}/api"
    with temporary_settings({PREFECT_API_URL: url, PREFECT_CLIENT_MAX_RETRIES: 0}):
        result = runner.invoke(
            app, ["serve", "--inbox", str(tmp_path / "drop"), "--pool", "districts", "--once"]
        )

    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert said.startswith(
        f"rosterflow: cannot reach the Prefect API at {url.replace('ops:Hunter2@', '')} ("
    ), said
    assert said.endswith(
        "Start it with `prefect server start`, or scan without --pool: `rosterflow serve "
        "--inbox DIR --once --no-prefect`"
    ), said
    assert "Hunter2" not in said and "Traceback" not in said
    assert list((tmp_path / "drop").iterdir()) == []
