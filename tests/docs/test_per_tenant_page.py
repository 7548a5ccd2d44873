"""docs/how-to/per-tenant.md followed as a newcomer follows it: the districts the page says to
write, then its first commands as printed, in an empty folder, each file it names written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from rosterflow.flows.cli import app

ROOT = Path(__file__).resolve().parents[2]
PER_TENANT_PAGE = ROOT / "docs/how-to/per-tenant.md"

runner = CliRunner()


def first_steps(text: str) -> list[tuple[list[str], str | None]]:
    """The `rosterflow generate` commands the page's prose gives before its first bash block,
    then that block's commands, each as arguments with the file its comment says it writes
    (`# writes wh/north.duckdb`; None: no file named)."""
    before, block = re.search(r"^(.*?)```bash\n(.*?)```", text, re.DOTALL).groups()
    steps = [
        (shlex.split(c)[1:], None) for c in re.findall(r"`(rosterflow generate [^`]+)`", before)
    ]
    for line in block.splitlines():
        command, _, comment = line.partition("#")
        writes = re.search(r"(wh/\S+\.duckdb)", comment)
        steps.append((shlex.split(command)[1:], writes.group(1) if writes else None))
    return steps


def test_the_first_commands_run_as_printed_in_an_empty_folder(tmp_path, monkeypatch):
    """The page synced north.zip and south.zip without saying where they come from: typed as
    printed in an empty folder, its first command failed (no such feed, exit 2)."""
    monkeypatch.chdir(tmp_path)
    steps = first_steps(PER_TENANT_PAGE.read_text())
    assert [arguments[0] for arguments, _ in steps[:2]] == ["generate", "generate"]

    for arguments, writes in steps:
        done = runner.invoke(app, arguments)

        assert done.exit_code == 0, f"rosterflow {shlex.join(arguments)}\n{done.output}"
        assert writes is None or (tmp_path / writes).is_file(), writes
    listed = runner.invoke(app, ["runs", "--warehouse", "wh/{tenant}.duckdb"])
    assert {"north", "south"} <= set(listed.output.split())
