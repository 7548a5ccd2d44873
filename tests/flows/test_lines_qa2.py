"""A resync read by its changed lines whose changed line takes the login of a user that a
later run stored as a patch: the kept users then come in the stored records' chunks (the
file's base, then the patch), and the check of shared logins must still answer, as `--full`
of the same feed on a copy of the warehouse does (`schemas.identity.login_issues`)."""

from __future__ import annotations

import shutil

import polars as pl
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.flows.commands import validate
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.settings import Identity, Safety, Settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import with_cell
from tests.flows.test_pipeline_incremental import leaves
from tests.schemas.test_by_lines_checks import TENANT, ByLines

# users sign in with their username; a login changed is applied with a warning, not held
SETTINGS = Settings(identity=Identity(key="username"), safety=Safety(login_changes="warn"))


def test_a_changed_line_taking_the_login_of_a_patched_user_is_rejected_as_in_full(
    tmp_path, monkeypatch
):
    """User 8 is stored by a patch (its name changed); the next feed gives user 2 user 8's
    username in capitals: validate --warehouse and the sync, both by changed lines, find the
    shared login on both users' lines, and the run is rejected as `--full` rejects it, the
    warehouse left as `--full` leaves it."""
    warehouse = tmp_path / "w.duckdb"
    frames = generate_feed(30, seed=5)
    first = write_feed(tmp_path / "first.zip", frames)
    assert run_steps(Steps(), first, warehouse, SETTINGS, TENANT).outcome == "applied"
    frames = with_cell(frames, "users", 8, "givenName", "Zed")
    patch = write_feed(tmp_path / "patch.zip", frames)
    assert run_steps(Steps(), patch, warehouse, SETTINGS, TENANT).outcome == "applied"
    oracle = tmp_path / "oracle.duckdb"
    shutil.copyfile(warehouse, oracle)

    frames = with_cell(frames, "users", 2, "username", frames["users"]["username"][8].upper())
    feed = write_feed(tmp_path / "shared.zip", frames)
    config = tmp_path / "rosterflow.toml"
    config.write_text('[identity]\nkey = "username"\n')
    by_lines = ByLines(monkeypatch)
    _, checked = validate(feed, config, warehouse, TENANT)
    ours = run_steps(Steps(), feed, warehouse, SETTINGS, TENANT)
    full = run_steps(Steps(), feed, oracle, SETTINGS, TENANT, full=True)

    assert by_lines.answers[False] is not None  # (validate --warehouse: by changed lines)
    assert by_lines.answers[True] is not None  # (the sync: by changed lines)
    assert ours.outcome == full.outcome == "rejected"
    errors = full.issues.filter(pl.col("severity") == "error")
    assert sorted(errors.select("line", "rule").rows()) == [
        (4, "identity.login_duplicate"),
        (10, "identity.login_duplicate"),
    ]
    assert_frame_equal(ours.issues.sort(pl.all()), full.issues.sort(pl.all()))
    assert_frame_equal(checked.issues.sort(pl.all()), full.issues.sort(pl.all()))
    ours_left, full_left = leaves(warehouse), leaves(oracle)
    for what, rows in full_left.items():
        assert_frame_equal(ours_left[what], rows, check_dtypes=False)
