"""The storage policy of the tenant's OneRoster records (`record_writes`): a patch of what
changed, or a new base; and a base and its patches read back merged from a real DuckDB file.

A case is one file, orgs.csv, after a run: how it was sent, what changed since the stored
records (None: the run was planned in full) and what is stored of it; the expected write is
`(patch, sourcedIds written, sourcedIds removed, fingerprint, validated under)`, or None.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.lines import LINE_KEY
from rosterflow.schemas.records import RecordChanges
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.warehouse.apply import RunWrites, record_run
from rosterflow.warehouse.records import (
    COMPACT_PATCHES,
    RecordWrite,
    StoredFile,
    derived,
    needs_compaction,
    prune_superseded,
    record_writes,
    restore_records,
    stored_files,
    stored_hashes,
    stored_records,
)
from rosterflow.warehouse.schema import connect, transaction
from tests.recorded import (
    NO_ISSUES,
    apply_first_run,
    first_run_writes,
    no_changes,
    run_record,
)
from tests.states import TENANT, district, records

NOW, BEFORE = "settings now", "settings before"
SENT = "fingerprint of the orgs.csv sent"
ORGS = records(district(), 2)["orgs"]  # st, d1, s1, s2
ALL = ["st", "d1", "s1", "s2"]


def stored(
    fingerprint: str | None = SENT,
    under: str | None = NOW,
    base: int = 100,
    patched: int = 0,
    patches: int = 0,
) -> StoredFile:
    return StoredFile(base, fingerprint, patched, patches, under, last_run_id=1)


def changed(changed=(), removed=(), added=()) -> RecordChanges:
    def ids(values):
        return pl.Series("sourcedId", list(values), pl.String)

    return RecordChanges(ids(changed), ids(removed), ids(added))


def base(fingerprint: str | None = SENT, under: str | None = NOW) -> tuple:
    return (False, ALL, [], fingerprint, under)


CASES = {
    # planned in full: a new base, unless the very file stored is sent again
    "absent: nothing written": ("absent", None, stored(), None),
    "a first file": ("bulk", None, None, base()),
    "the same bulk file again": ("bulk", None, stored(), None),
    "the same bulk file over patches": ("bulk", None, stored(patched=3, patches=1), base()),
    "the same bulk file validated anew": ("bulk", None, stored(under=BEFORE), base()),
    "another bulk file": ("bulk", None, stored("another fingerprint"), base()),
    "a delta file": ("delta", None, stored(), base(None)),
    # a delta file's records kept from before are as their lineage says
    "a delta over records validated otherwise": (
        "delta",
        None,
        stored(under=BEFORE),
        base(None, None),
    ),
    # planned incrementally: a patch of what changed
    "one record changed": ("bulk", changed(["s1"]), stored(), (True, ["s1"], [], None, NOW)),
    "added and removed in a delta": (
        "delta",
        changed(["s2"], ["s9"], ["s2"]),
        stored(),
        (True, ["s2"], ["s9"], None, NOW),
    ),
    "nothing changed": ("bulk", changed(), stored(), None),
    "nothing changed, absent": ("absent", changed(), stored(), None),
    "patches outgrowing a tenth of the base": (
        "bulk",
        changed(["s1"]),
        stored(patched=10),
        base(),
    ),
    "patches up to a tenth of the base": (
        "bulk",
        changed(["s1"]),
        stored(patched=9),
        (True, ["s1"], [], None, NOW),
    ),
    "too many patches": ("bulk", changed(["s1"]), stored(patches=COMPACT_PATCHES - 1), base()),
    "validated under other settings before": ("bulk", changed(), stored(under=BEFORE), base()),
    "a delta over records validated otherwise, incrementally": (
        "delta",
        changed(["s1"]),
        stored(under=BEFORE),
        base(None, None),
    ),
    "a first file, incrementally": ("bulk", changed(ALL, added=ALL), None, base()),
}


def written(write: RecordWrite | None) -> tuple | None:
    if write is None:
        return None
    return (
        write.patch,
        write.rows["sourcedId"].to_list(),
        write.removed.to_list(),
        write.fingerprint,
        write.validated_under,
    )


@pytest.mark.parametrize(("mode", "changes", "before", "expected"), CASES.values(), ids=CASES)
def test_record_writes(mode, changes, before, expected):
    writes = record_writes(
        {"orgs": ORGS},
        None if changes is None else {"orgs": changes},
        {"orgs": mode},
        {"orgs": SENT} if mode != "absent" else {},
        {} if before is None else {"orgs": before},
        NOW,
    )
    assert written(writes.get("orgs")) == expected
    assert set(writes) <= {"orgs"}


def test_a_patch_holds_the_records_as_they_are_now():
    writes = record_writes(
        {"orgs": ORGS}, {"orgs": changed(["s1"])}, {"orgs": "bulk"}, {}, {"orgs": stored()}, NOW
    )
    assert_frame_equal(writes["orgs"].rows, ORGS.filter(pl.col("sourcedId") == "s1"))
    assert writes["orgs"].record_count == 1


def test_files_the_manifest_does_not_name_are_absent():
    assert record_writes({"orgs": ORGS}, None, {}, {}, {}, NOW) == {}


@pytest.mark.parametrize(
    ("before", "records", "expected"),
    [
        (None, 1, True),
        (stored(base=100), 10, False),
        (stored(base=100), 11, True),
        (stored(base=100, patched=6), 5, True),
        (stored(base=0), 1, True),  # an empty base is written again whole
        (stored(base=10_000, patches=COMPACT_PATCHES - 2), 1, False),
        (stored(base=10_000, patches=COMPACT_PATCHES - 1), 1, True),
    ],
)
def test_needs_compaction(before, records, expected):
    assert needs_compaction(before, records) is expected


# --- read back from a warehouse ------------------------------------------------------------------


def store(con, writes: dict[str, RecordWrite]) -> int:
    run = run_record(con)
    record_run(con, run, NO_ISSUES, RunWrites(no_changes(), writes))
    return run.run_id


def test_a_base_and_its_patches_are_read_back_merged(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        first = apply_first_run(con).run_id
        renamed = ORGS.filter(pl.col("sourcedId") == "s1").with_columns(
            pl.lit("North").alias("name")
        )
        # the first patch renames s1 and removes s2; the second brings s2 back
        patch = RecordWrite(renamed, pl.Series("sourcedId", ["s2"]), True, None, NOW)
        second = store(con, {"orgs": patch})
        back = ORGS.filter(pl.col("sourcedId") == "s2")
        third = store(
            con, {"orgs": RecordWrite(back, pl.Series([], dtype=pl.String), True, None, NOW)}
        )
        merged = stored_records(con, TENANT, ("orgs",))["orgs"]
        expected = pl.concat(
            [
                records(district(), 1)["orgs"].filter(pl.col("sourcedId").is_in(["st", "d1"])),
                renamed,
                back,
            ]
        )
        assert_frame_equal(merged.sort("sourcedId"), expected.sort("sourcedId"))
        assert_frame_equal(
            stored_hashes(con, TENANT, ["orgs"])["orgs"].sort("sourcedId"),
            expected.select("sourcedId", "row_hash").sort("sourcedId"),
        )
        # the first run's base (4 records) and the patches of 2 and 1 records, validated
        # under other settings than the base was: the file's lineage is mixed
        assert stored_files(con, TENANT)["orgs"] == StoredFile(
            4, "fingerprint of orgs", 3, 2, None, third
        )
        assert second < third and first < second


def test_line_keys_are_read_back_with_nulls_for_parts_stored_without_them(tmp_path):
    """A record keeps the line key it was stored with; one of a part written before records
    kept their keys reads as null (its line is read again), and `stored_records` reads the
    records as they always were."""
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)  # a base without line keys
        renamed = ORGS.filter(pl.col("sourcedId") == "s1").with_columns(
            pl.lit("North").alias("name"), pl.lit(7, pl.UInt64).alias(LINE_KEY)
        )
        store(con, {"orgs": RecordWrite(renamed, pl.Series([], dtype=pl.String), True, None, NOW)})

        keys = stored_hashes(con, TENANT, ["orgs"], {"orgs": ["name", LINE_KEY]})["orgs"]
        assert sorted(keys.select("sourcedId", "name", LINE_KEY).rows()) == [
            ("d1", "District 1", None),
            ("s1", "North", 7),
            ("s2", "South High", None),
            ("st", "State", None),
        ]
        assert LINE_KEY not in stored_records(con, TENANT, ("orgs",))["orgs"].columns


def test_a_new_base_supersedes_the_base_and_patches_before(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)
        patch = RecordWrite(ORGS.head(1), pl.Series([], dtype=pl.String), True, None, NOW)
        store(con, {"orgs": patch})
        latest = store(
            con,
            {"orgs": RecordWrite(ORGS.head(2), pl.Series([], dtype=pl.String), False, SENT, NOW)},
        )
        assert stored_files(con, TENANT)["orgs"] == StoredFile(2, SENT, 0, 0, NOW, latest)
        assert_frame_equal(stored_records(con, TENANT, ("orgs",))["orgs"], ORGS.head(2))
        # the other files, not written, are as the first run stored them
        assert set(stored_files(con, TENANT)) == set(SYNCED_FILES)


# --- what a run replaces, and what later reads pay for it ----------------------------------------


def stored_rows(con, table: str) -> int:
    """Rows the table's storage holds once checkpointed, deleted ones included (DuckDB keeps a
    deleted row's bytes until its row group holds no live row, and every read of a blob column
    reads them)."""
    con.execute("checkpoint")
    return con.execute(
        f"select coalesce(sum(count), 0) from pragma_storage_info('oneroster.{table}') "
        "where column_name = 'tenant' and segment_type <> 'VALIDITY'"
    ).fetchone()[0]


def test_a_run_s_derived_state_replaces_the_last_one_and_leaves_no_deleted_row(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)
        apply_first_run(con, tenant="other")
        names = set(first_run_writes().derived)
        for grade in ("9", "10"):
            grades = pl.DataFrame({"sourcedId": ["u-s1"], "grade_level": [grade]})
            latest = run_record(con)
            con.execute("checkpoint")  # as the sync before it did when it closed
            record_run(
                con, latest, NO_ISSUES, RunWrites(no_changes(), derived={"grade_levels": grades})
            )
        held = con.sql("select tenant, name, run_id from oneroster.derived").pl()
        assert held.height == 2 * len(names) == stored_rows(con, "derived")
        assert held.filter(pl.col("name") == "grade_levels").sort("tenant").rows() == [
            (TENANT, "grade_levels", latest.run_id),
            ("other", "grade_levels", 2),
        ]
        assert derived(con, TENANT, "grade_levels")["grade_level"].to_list() == ["10"]


def test_a_replaced_record_set_keeps_its_blob_apart_until_an_undo_or_a_prune(tmp_path):
    def superseded(con) -> list[tuple]:
        return con.execute(
            "select file, run_id, superseded_run_id, records is null from oneroster.snapshots "
            "where superseded_run_id is not null order by file"
        ).fetchall()

    def kept(con) -> list[tuple]:
        return con.execute(
            "select source, file, run_id from oneroster.kept_records order by source, file"
        ).fetchall()

    with connect(tmp_path / "w.duckdb") as con:
        first = apply_first_run(con).run_id
        first_orgs = stored_records(con, TENANT, ("orgs",))["orgs"]
        base = RecordWrite(ORGS.head(2), pl.Series([], dtype=pl.String), False, SENT, NOW)
        rebased = store(con, {"orgs": base})
        # the first run's orgs base keeps its row, superseded, and its blob apart, where no
        # read of the current records reads it
        assert superseded(con) == [("orgs", first, rebased, True)]
        assert kept(con) == [("snapshots", "orgs", first)]
        patch = RecordWrite(ORGS.head(1), pl.Series([], dtype=pl.String), True, None, NOW)
        patched = store(con, {"orgs": patch})
        con.execute("checkpoint")  # as every sync does when it closes

        with transaction(con):
            restore_records(con, TENANT, patched)  # undo, newest first: the patch goes
        assert stored_rows(con, "snapshot_patches") == 0  # nothing deleted is left to read
        with transaction(con):
            restore_records(con, TENANT, rebased)  # and the first base comes back
        assert superseded(con) == [] and kept(con) == []
        assert_frame_equal(stored_records(con, TENANT, ("orgs",))["orgs"], first_orgs)
        live = con.execute("select count(*) from oneroster.snapshots").fetchone()[0]
        assert stored_rows(con, "snapshots") == live

        rebased = store(con, {"orgs": base})
        con.execute(
            "update audit.sync_runs set started_at = timestamp '2020-01-01' where run_id = ?",
            [rebased],
        )
        with transaction(con):
            prune_superseded(con, TENANT)  # what a run 30 days ago replaced is forgotten
        assert superseded(con) == [] and kept(con) == []
        assert_frame_equal(stored_records(con, TENANT, ("orgs",))["orgs"], ORGS.head(2))


def test_a_version_8_warehouse_moves_its_kept_record_sets_apart(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        first = apply_first_run(con).run_id
        first_orgs = stored_records(con, TENANT, ("orgs",))["orgs"]
        base = RecordWrite(ORGS.head(2), pl.Series([], dtype=pl.String), False, SENT, NOW)
        rebased = store(con, {"orgs": base})
        # as version 8 kept it: the blob in its superseded row, and superseded derived state
        con.execute(
            """
            update oneroster.snapshots as row set records = kept.records
            from oneroster.kept_records as kept
            where row.file = kept.file and row.run_id = kept.run_id;
            drop table oneroster.kept_records;
            insert into oneroster.derived
            select * replace (run_id - 1 as run_id, run_id as superseded_run_id)
            from oneroster.derived;
            delete from audit.schema_migrations where version >= 9;
            """
        )
    with connect(path) as con:  # migrated on open
        assert con.execute(
            "select run_id, records is null from oneroster.snapshots "
            "where superseded_run_id is not null"
        ).fetchall() == [(first, True)]
        assert (
            con.execute(
                "select count(*) from oneroster.derived where superseded_run_id is not null"
            ).fetchone()[0]
            == 0
        )
        with transaction(con):
            restore_records(con, TENANT, rebased)
        assert_frame_equal(stored_records(con, TENANT, ("orgs",))["orgs"], first_orgs)
