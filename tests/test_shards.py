"""Patient shards (issue 11): the same results for any shard count and on Dask, only the
changed patients sharded on an incremental run, and shard tasks that can run twice.

The cohort is the generated one whose digests main recorded before the one-engine
refactor (tests/expected/pre_refactor_digests.json, "patients=300,seed=42"): every run
here must reproduce them exactly. One shard on threads is the default run, derived
inside the build by the SQL models (issue 11's digest gate); more shards and Dask take
the same models through Parquet files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import duckdb
import pytest
from pipeline_helpers import REPO, TEST_KEY, make_source, only_file, read_csv, write_csv

from flows import shards
from flows.pipeline import run_pipeline
from flows.shards import OUTPUT_FILES
from sources import Pseudonymiser
from tools.table_digests import table_digests
from transforms.derive import SOURCES

EXPECTED = {
    **json.loads((REPO / "tests/expected/pre_refactor_digests.json").read_text())[
        "patients=300,seed=42"
    ],
    # The survival mart (issue 10) came after that baseline: its digest on the same cohort,
    # made by wip/survival before shards and the engine (its own labs-stage path).
    "survival": [300, "6e996abb3f03e36189ee3daf46003e89"],
}


def test_shard_of_a_patient_is_the_same_in_duckdb_and_python() -> None:
    """The shard comes from md5 (not DuckDB's own hash), so every process and version agree."""
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
    con = duckdb.connect()
    con.execute("CREATE TABLE p (patient_key VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?)", [(k,) for k in keys])
    for count in (1, 4, 16):
        in_sql = dict(
            con.execute(f"SELECT patient_key, {shards.shard_sql(count)} FROM p").fetchall()
        )
        assert in_sql == {k: shards.shard_of(k, count) for k in keys}
        sizes = [list(in_sql.values()).count(s) for s in range(count)]
        assert min(sizes) > 0.6 * len(keys) / count  # spread over every shard
    assert shards.shard_of("abc", 2**32) == 0x90015098  # md5("abc") starts 900150983c


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("shards") / "source", patients=300, seed=42)


@pytest.fixture
def test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)


def keep_shards_config(folder: Path) -> Path:
    """A config keeping the shard files in ``folder`` (operational: results unchanged)."""
    path = folder / "keep_shards.toml"
    path.write_text(f'[run]\nkeep_shard_files = true\nshard_folder = "{folder / "shards"}"\n')
    return path


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 4, 16])
def test_results_are_those_of_main_for_any_shard_count(
    cohort: Path, tmp_path: Path, test_key: None, count: int
) -> None:
    db = tmp_path / "wh.duckdb"
    summary = run_pipeline(cohort, db, shards=count)
    assert table_digests(db) == EXPECTED
    if count == 1:  # one shard on threads is derived inside the build: no shard task
        assert summary.shard_results == [] and "derive" in summary.stage_seconds
        return
    assert [r["shard"] for r in summary.shard_results] == list(range(count))
    per_table = {t: sum(r["rows"][t] for r in summary.shard_results) for t in OUTPUT_FILES}
    assert per_table["best_responses"] == EXPECTED["best_responses"][0]
    assert not list(tmp_path.glob("*.shards-*"))  # shard files deleted once loaded


@pytest.mark.slow
def test_results_are_those_of_main_on_a_dask_cluster(
    cohort: Path, tmp_path: Path, test_key: None
) -> None:
    """Two shards on a two-worker LocalCluster reached over TCP, as --dask-address does."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,  # workers are threads of this process: nothing left behind
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        summary = run_pipeline(cohort, tmp_path / "wh.duckdb", shards=2, dask_address=address)
    finally:
        cluster.close()
    assert table_digests(tmp_path / "wh.duckdb") == EXPECTED
    assert [r["shard"] for r in summary.shard_results] == [0, 1]


def shard_input_patients(folder: Path) -> dict[str, set[str]]:
    """The patient_keys in each input table of a kept shard folder."""
    con = duckdb.connect()
    out = {}
    for table in SOURCES:
        files = sorted(map(str, (folder / "inputs" / table).glob("shard=*/*.parquet")))
        out[table] = (
            {
                k
                for (k,) in con.execute(
                    "SELECT patient_key FROM read_parquet(?)", [files]
                ).fetchall()
            }
            if files
            else set()
        )
    return out


def grow_one_lesion(source: Path, patient_id: str) -> None:
    """Make one measured lesion row of ``patient_id`` 7.5 mm longer in the source's lesion file."""
    lesions = only_file(source, "lesions")
    rows = read_csv(lesions)
    pid, size = rows[0].index("patient_id"), rows[0].index("longest_diameter_mm")
    row = next(r for r in rows[1:] if r[pid] == patient_id and r[size])
    row[size] = f"{float(row[size]) + 7.5:.1f}"
    write_csv(lesions, rows)


@pytest.mark.slow
def test_incremental_run_shards_only_the_changed_patients(tmp_path: Path, test_key: None) -> None:
    source = make_source(tmp_path / "source", patients=40, seed=11)
    config = keep_shards_config(tmp_path)
    db = tmp_path / "wh.duckdb"
    first = run_pipeline(source, db, config, shards=4)
    first_folder = shards.run_folder(db, str(tmp_path / "shards"), first.run_id)
    everyone = shard_input_patients(first_folder)
    assert len(everyone["in_patients"]) == 40

    grow_one_lesion(source, "NELM-000010")
    second = run_pipeline(source, db, config, shards=4)

    changed = {Pseudonymiser(TEST_KEY.encode()).reference_key("NELM-000010")}
    sharded = shard_input_patients(shards.run_folder(db, str(tmp_path / "shards"), second.run_id))
    for table in SOURCES:
        if table != "in_rejected_targets":
            assert sharded[table] == changed, table
    # the one patient's inputs sit in its own shard only
    own = shards.shard_of(next(iter(changed)), 4)
    folder = shards.run_folder(db, str(tmp_path / "shards"), second.run_id)
    assert {p.parent.name for p in folder.glob("inputs/*/shard=*/*.parquet")} == {f"shard={own}"}
    # and the incremental result equals a full run of the same source
    full = tmp_path / "full.duckdb"
    run_pipeline(source, full, shards=1)
    assert table_digests(db) == table_digests(full)


@pytest.mark.slow
def test_a_shard_task_run_twice_writes_the_same_files(
    cohort: Path, tmp_path: Path, test_key: None
) -> None:
    """Dask may rerun a task whose worker died: the rerun must leave the same bytes."""
    db = tmp_path / "wh.duckdb"
    summary = run_pipeline(cohort, db, keep_shards_config(tmp_path), shards=4)
    folder = shards.run_folder(db, str(tmp_path / "shards"), summary.run_id)

    def outputs() -> dict[str, bytes]:
        files = folder.glob("outputs/*/*")
        return {str(p.relative_to(folder)): p.read_bytes() for p in files}

    before = outputs()
    assert len(before) == 4 * len(OUTPUT_FILES)
    shutil.rmtree(folder / "outputs" / "shard=2")  # as if its worker died mid-way
    for shard in range(4):
        result = shards.run_shard(folder, shard)
        assert result["rows"] == summary.shard_results[shard]["rows"]
    assert outputs() == before
    assert not list(folder.glob("outputs/*/.*"))  # no temporary file left


def test_shard_folders_of_runs_that_died_are_removed(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    dead = shards.run_folder(db, "", "20260101T000000Z-aaaaaa")
    other_warehouse = shards.run_folder(tmp_path / "other.duckdb", "", "20260101T000000Z-bbbbbb")
    current = shards.run_folder(db, "", "20260102T000000Z-cccccc")
    for folder in (dead, other_warehouse, current):
        (folder / "inputs").mkdir(parents=True)
    shards.remove_stale_folders(current)
    assert not dead.exists()
    assert other_warehouse.exists() and current.exists()


def test_a_dask_address_where_nothing_answers_stops_the_run_before_it_starts() -> None:
    from flows.privacy import ConfigurationError

    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConfigurationError, match="no Dask scheduler answers at tcp://127.0.0.1"):
        shards.check_dask_address(f"tcp://127.0.0.1:{port}")
    with pytest.raises(ConfigurationError, match="not of the form tcp://HOST:PORT"):
        shards.check_dask_address("scheduler:8786")
    shards.check_dask_address("")  # none: threads


def partitioned_staging_config(
    folder: Path, rows: int, max_patients_per_shard: int = 100_000
) -> Path:
    """A config staging lesions and labs in parts of ``rows`` raw rows and deriving at
    most ``max_patients_per_shard`` patients per shard (operational)."""
    path = folder / "partitions.toml"
    path.write_text(
        f"[engine]\nstaging_partition_rows = {rows}\n"
        f'[run]\nkeep_shard_files = true\nshard_folder = "{folder / "shards"}"\n'
        f"max_patients_per_shard = {max_patients_per_shard}\n"
    )
    return path


def test_a_run_never_derives_more_than_the_maximum_patients_in_one_shard() -> None:
    """run.max_patients_per_shard: shards as configured, or ceil(patients / maximum)."""
    assert shards.shards_needed(1, 100_000, 100_000) == 1
    assert shards.shards_needed(1, 100_001, 100_000) == 2
    assert shards.shards_needed(1, 1_000_000, 100_000) == 10
    assert shards.shards_needed(16, 300, 100_000) == 16
    assert shards.shards_needed(1, 0, 100_000) == 1


@pytest.mark.slow
def test_a_large_run_stages_in_partitions_and_derives_in_shards_with_the_same_results(
    cohort: Path, tmp_path: Path, test_key: None
) -> None:
    """Lesions and labs staged in patient partitions (engine.staging_partition_rows):
    the cohort's ~5,000 lesion and ~50,000 lab rows in parts of 4,000 rows; its 300
    patients derived in shards of at most 100 (run.max_patients_per_shard), with
    run.shards left at 1."""
    db = tmp_path / "wh.duckdb"
    progress: list[str] = []
    config = partitioned_staging_config(tmp_path, 4000, max_patients_per_shard=100)
    summary = run_pipeline(cohort, db, config, progress=progress.append)
    parts = [m for m in progress if "patient part" in m]
    assert any(m.startswith("checking lesions (patient part 1 of ") for m in parts)
    assert any(m.startswith("checking labs (patient part 1 of ") for m in parts)
    assert "computing responses, labs, flags and eligibility (3 shards)" in progress
    assert [r["shard"] for r in summary.shard_results] == [0, 1, 2]
    assert table_digests(db) == EXPECTED


@pytest.mark.slow
def test_incremental_run_with_staging_partitions_equals_a_full_refresh(
    tmp_path: Path, test_key: None
) -> None:
    """Partitions compare each patient's loaded rows with the published ones in its own
    partition: a changed lesion recomputes its patient only."""
    source = make_source(tmp_path / "source", patients=40, seed=11)
    config = partitioned_staging_config(tmp_path, 300)
    db = tmp_path / "wh.duckdb"
    run_pipeline(source, db, config, shards=4)
    grow_one_lesion(source, "NELM-000010")
    progress: list[str] = []
    second = run_pipeline(source, db, config, shards=4, progress=progress.append)
    assert "checking lesions (patient part 2 of 4)" in progress  # 40 patients' ~1,000 rows
    changed = {Pseudonymiser(TEST_KEY.encode()).reference_key("NELM-000010")}
    folder = shards.run_folder(db, str(tmp_path / "shards"), second.run_id)
    assert shard_input_patients(folder)["in_lesion_measurements"] == changed
    full = tmp_path / "full.duckdb"
    run_pipeline(source, full, shards=1)
    assert table_digests(db) == table_digests(full)
