"""`rosterflow serve`: each inbox folder and each sources file is a deployment of its own on
the Prefect server, named the same at every restart. Named by the folder's last name (or the
file's stem) alone, two teams serving `/districts/a/inbox` and `/districts/b/inbox` on one
server shared one deployment: the second replaced the first's parameters and schedule, and the
first team's inbox was never scanned again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.commands import served_deployment_name

runner = CliRunner()


def _names(kind: str, *paths: Path) -> list[str]:
    """The names `serve` gives: an inbox's by its folder's name, a sources file's by its stem."""
    return [
        served_deployment_name(kind, path, path.name if kind == "inbox" else path.stem)
        for path in paths
    ]


def test_two_districts_inboxes_of_one_folder_name_are_two_deployments(tmp_path):
    a, b = tmp_path / "districts" / "a" / "inbox", tmp_path / "districts" / "b" / "inbox"

    name_a, name_b = _names("inbox", a, b)

    assert name_a != name_b
    assert re.fullmatch(r"inbox-inbox-[0-9a-f]{8}", name_a), name_a
    assert re.fullmatch(r"inbox-inbox-[0-9a-f]{8}", name_b), name_b


def test_two_districts_sources_files_of_one_name_are_two_deployments(tmp_path):
    a, b = tmp_path / "a" / "sources.toml", tmp_path / "b" / "sources.toml"

    name_a, name_b = _names("pulls", a, b)

    assert name_a != name_b
    assert re.fullmatch(r"pulls-sources-[0-9a-f]{8}", name_a), name_a


def test_the_same_folder_names_the_same_deployment_however_it_is_written(tmp_path, monkeypatch):
    """A restart updates its deployment (and its schedule) rather than adding a second one
    that would scan the same inbox: the name depends on the resolved path alone."""
    inbox = tmp_path / "sis-drop"
    inbox.mkdir()
    (tmp_path / "linked").symlink_to(inbox)
    monkeypatch.chdir(tmp_path)

    names = {
        served_deployment_name("inbox", path, "sis-drop")
        for path in (inbox, tmp_path / "." / "sis-drop", tmp_path / "linked")
    }
    relative = served_deployment_name("inbox", Path("sis-drop"), "sis-drop")

    assert names == {relative}
    assert relative == served_deployment_name("inbox", inbox, "sis-drop")  # asked again


def test_the_name_is_the_same_in_every_process_that_serves_the_path():
    """A restart is another process: the hash is of the path's bytes (sha256), not Python's
    `hash()`, which differs from one process to the next."""
    assert _names("inbox", Path("/districts/a/inbox"), Path("/districts/b/inbox")) == [
        "inbox-inbox-9c9a97da",
        "inbox-inbox-10767817",
    ]
    assert _names("pulls", Path("/districts/a/sources.toml")) == ["pulls-sources-833f9150"]


@pytest.mark.parametrize(
    ("readable", "starts"),
    [
        ("東京", r"inbox-[0-9a-f]{8}"),  # no letters left: the hash alone, no `inbox-x`
        ("Lincoln USD / Drop", r"inbox-lincoln-usd-drop-[0-9a-f]{8}"),
        ("x" * 200, r"inbox-x{40}-[0-9a-f]{8}"),
    ],
)
def test_the_readable_part_is_lowercase_letters_digits_and_dashes(tmp_path, readable, starts):
    name = served_deployment_name("inbox", tmp_path / "drop", readable)
    assert re.fullmatch(starts, name), name


@pytest.fixture
def served(monkeypatch) -> Iterator[list[dict]]:
    """What `flow.serve` was called with, in place of serving (a Prefect API URL is set, never
    reached)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from rosterflow.flows.inbox_flow import inbox_flow
    from rosterflow.flows.pulls_flow import pulls_flow

    calls: list[dict] = []
    for flow in (inbox_flow, pulls_flow):
        monkeypatch.setattr(flow, "serve", lambda **options: calls.append(options))
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        yield calls


def test_serve_gives_each_inbox_its_own_deployment_and_says_which_folder(tmp_path, served):
    for district in ("a", "b"):
        (tmp_path / district / "inbox").mkdir(parents=True)
        result = runner.invoke(
            app,
            [
                "serve",
                "--inbox",
                str(tmp_path / district / "inbox"),
                "--warehouse",
                str(tmp_path / f"{district}.duckdb"),
                "--interval",
                "600",
            ],
        )
        assert result.exit_code == 0, result.output

    first, second = served
    assert first["name"] != second["name"]
    assert first["name"].startswith("inbox-inbox-") and second["name"].startswith("inbox-inbox-")
    assert first["parameters"]["inbox"] == str((tmp_path / "a" / "inbox").resolve())
    assert str((tmp_path / "a" / "inbox").resolve()) in first["description"]
    assert str((tmp_path / "b" / "inbox").resolve()) in second["description"]
    assert first["interval"] == 600 and first["cron"] is None


def test_serve_sources_gives_each_file_its_own_deployment(tmp_path, served):
    for district in ("a", "b"):
        sources = tmp_path / district / "sources.toml"
        sources.parent.mkdir()
        sources.write_text(
            '[[source]]\ntenant = "north"\nurl = "https://sis.example/ims/oneroster/v1p1"\n'
        )
        result = runner.invoke(app, ["serve", "--sources", str(sources), "--cron", "0 3 * * *"])
        assert result.exit_code == 0, result.output

    first, second = served
    assert first["name"] != second["name"]
    assert {first["name"][:14], second["name"][:14]} == {"pulls-sources-"}
    assert str((tmp_path / "b" / "sources.toml").resolve()) in second["description"]
    assert second["cron"] == "0 3 * * *" and second["interval"] is None
