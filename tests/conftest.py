"""Shared fixtures and the test selection. Flow tests share one Prefect test harness per session
(see tests/flows).

`pytest` runs every test but those marked `slow` (properties at full strength, end-to-end runs)
and `fuzz` (the fuzzed reader's long search): the README's test command, at most 5 minutes on 2
cores. `pytest -m slow` runs the slow ones, `pytest -m fuzz` the long search, `pytest -m "slow
or not slow"` all of them; CI runs the first two sets (.ci/run). A test named on the
command line (`path::name`) runs whatever its marks.

A test that takes over 2 s of a 2-core machine is marked `slow`, unless it is the one check
of a guarantee the README's command must give (the idempotence and incremental-equals-full
properties, a CLI sync, the demo, the one flow run): hundreds of end-to-end syncs of about a
second each fill the 5 minutes, and the largest go to CI (`--durations` prints them). For the
same reason a QA pass's file of end-to-end regressions (`test_*_qa*.py` and the like) is marked
`slow` whole when the command nears its budget: the guarantees they pin are checked again in
CI, and the README's command keeps the first test of each behaviour.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# third-party feeds, with their SOURCE and licence (tests/data/README.md)
DATA = Path(__file__).resolve().parent / "data"
# what the notebooks import from their folder
NOTEBOOKS_SHARED = Path(__file__).resolve().parents[1] / "notebooks" / "_shared.py"


@pytest.fixture(scope="module")
def shared() -> ModuleType:
    """notebooks/_shared.py as the notebooks import it, from their folder."""
    spec = importlib.util.spec_from_file_location("_shared", NOTEBOOKS_SHARED)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def built_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, Callable[[Path], Any]], Any]:
    """`built_once(name, build)` is what `build(folder)` returned (a JSON value), built once
    per run of the suite however many workers run it: the first worker to ask builds it, in a
    folder of the run that every worker shares, under a lock that the others wait on; they then
    read what it returned. For the session fixtures that sync whole histories into warehouses
    and run the notebooks on them, each tens of seconds of the 2 cores, which every worker
    would otherwise build again. What is built is only read: by the tests of every worker."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, which holds each worker's own

    def once(name: str, build: Callable[[Path], Any]) -> Any:
        folder, built = root / f"built-{name}", root / f"built-{name}.json"
        with (root / f"built-{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
            if built.exists():
                return json.loads(built.read_text(encoding="utf-8"))
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed on another worker
            folder.mkdir()
            value = build(folder)
            built.write_text(json.dumps(value), encoding="utf-8")
            return value

    return once


@pytest.fixture(scope="session")
def school_changes_warehouse(built_once) -> Path:
    """A small district's six runs in which students change schools in every way a sync
    records it (a move, a status change with a new school, an adoption, a return, an undone
    move), a school and a section are deleted and a run is undone
    (tests/notebooks/school_changes.py): what the notebooks show and the documentation's
    statements about a real warehouse are checked against."""
    from tests.notebooks.school_changes import build_school_changes_warehouse

    def build(folder: Path) -> str:
        warehouse = folder / "rosterflow.duckdb"
        assert build_school_changes_warehouse(warehouse, folder) == ["applied"] * 6
        return str(warehouse)

    return Path(built_once("school_changes", build))


@pytest.fixture(scope="session", autouse=True)
def new_warehouses_copy_a_migrated_one(tmp_path_factory):
    """A warehouse file a test's sync creates is a copy of one that `schema.connect` created
    and migrated at the start of the session, which `connect` then finds at the newest
    version. Every migration's DDL takes about 60 ms of a 2-core machine, and the suites create
    thousands of warehouses; the migrations themselves are run by this fixture (a broken one
    fails every test), and a new file's building under another name and from older versions
    by tests/warehouse/test_schema.py (`real_creation`). Only a file that does not exist yet
    is copied: an existing file, a read-only open and `:memory:` are opened as they are."""
    from rosterflow.warehouse import schema

    migrated = tmp_path_factory.mktemp("migrated") / "warehouse.duckdb"
    schema.connect(migrated).close()

    def from_migrated(path: Path, id_space: tuple[str, int] | None) -> None:
        schema.check_encodable(path)
        shutil.copyfile(migrated, path)  # (connect records the id space, as for an old file)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schema, "_create", from_migrated)
        yield


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, ...]]:
    """The files of each read of stored records by the sync's steps (`flows.steps`), in order:
    what a test asserts a feed reads, or that it reads nothing more."""
    from rosterflow.flows import steps

    read: list[tuple[str, ...]] = []
    stored_records = steps.stored_records

    def recorded(con, tenant, names):
        read.append(tuple(names))
        return stored_records(con, tenant, names)

    monkeypatch.setattr(steps, "stored_records", recorded)
    return read


@pytest.fixture
def by_lines(monkeypatch) -> list[bool]:
    """Whether each validation of the sync's steps was answered by the feed's changed lines."""
    from rosterflow.flows import steps
    from tests.spying import answered_by_lines

    return answered_by_lines(monkeypatch, steps)


@pytest.fixture(scope="module")
def generated_members(tmp_path_factory) -> dict[str, bytes]:
    """The members of a generated district's feed (30 students), by member name."""
    import zipfile

    from rosterflow.demo.district import generate_feed
    from rosterflow.schemas.writer import write_feed

    feed = write_feed(tmp_path_factory.mktemp("district") / "feed.zip", generate_feed(30, seed=3))
    with zipfile.ZipFile(feed) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="session")
def third_party_feeds() -> Path:
    """The OneRoster 1.1 feeds other implementations published, each with its `EXPECT`."""
    return DATA / "oneroster11"


# left out of a run that names no marker: `-m slow` (CI) or `-m fuzz` asks for them
ON_REQUEST = ("slow", "fuzz")


@pytest.hookimpl(tryfirst=True)  # the marks added before `-m` selects by them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the slow tests and the long fuzz search out unless a marker expression or a test
    by name was asked for. A flow test is a slow one unless marked `smoke`: each worker that
    runs one starts a Prefect test server first (11-15 s of the 2 cores), which the README's
    command pays once, for the one flow run it keeps."""
    for item in items:
        if item.get_closest_marker("flow") and not item.get_closest_marker("smoke"):
            item.add_marker(pytest.mark.slow)
    if config.option.markexpr or any("::" in arg for arg in config.args):
        return
    left_out = [i for i in items if any(i.get_closest_marker(m) for m in ON_REQUEST)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
