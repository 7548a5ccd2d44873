"""`rosterflow generate OUT`: a feed of exactly what was generated, or exit 2 with one line
naming OUT when it cannot be written."""

from __future__ import annotations

from typer.testing import CliRunner

from rosterflow.flows.cli import app

runner = CliRunner()


def generate(*arguments: str):
    return runner.invoke(app, ["generate", *map(str, arguments), "--students", "20"])


def test_an_out_that_cannot_be_written_exits_2_with_one_line(tmp_path):
    (tmp_path / "notes").write_text("a file, not a folder")
    (tmp_path / "folder.zip").mkdir()

    for out, why in [
        (tmp_path / "notes", "a file, not a folder; name a folder or a .zip"),
        (tmp_path / "folder.zip", "cannot be written (Is a directory)"),
        (tmp_path / "notes" / "district", "cannot be written (File exists)"),
    ]:
        result = generate(out)

        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"rosterflow: {out}: {why}"), result.output
        assert result.output.count("\n") == 1, result.output
    assert (tmp_path / "notes").read_text() == "a file, not a folder"
    assert list((tmp_path / "folder.zip").iterdir()) == []


def test_a_folder_generated_again_in_the_other_version_holds_that_feed_alone(tmp_path):
    out = tmp_path / "district"
    assert generate(out, "--oneroster", "1.2").exit_code == 0
    assert (out / "roles.csv").exists()
    (out / "README.txt").write_text("our notes on this district")

    again = generate(out, "--oneroster", "1.1")

    assert again.exit_code == 0, again.output
    assert not (out / "roles.csv").exists()  # 1.2's alone: a 1.1 feed holding it is invalid
    assert (out / "README.txt").read_text() == "our notes on this district"
    validated = runner.invoke(app, ["validate", str(out)])
    assert validated.exit_code == 0, validated.output
    assert "0 errors" in validated.output


def test_the_same_seed_writes_the_same_zip_byte_for_byte_and_another_seed_another(
    tmp_path, monkeypatch
):
    """Deterministic per seed down to the sha256 a sync records as feed_sha256, whenever the
    zip is written."""
    assert generate(tmp_path / "first.zip", "--seed", "7").exit_code == 0
    monkeypatch.setattr("time.time", lambda: 2_000_000_000.0)  # (a later moment: 2033)
    assert generate(tmp_path / "again.zip", "--seed", "7").exit_code == 0
    assert generate(tmp_path / "other.zip", "--seed", "8").exit_code == 0

    first, again, other = (
        (tmp_path / name).read_bytes() for name in ("first.zip", "again.zip", "other.zip")
    )
    assert first == again
    assert first != other
