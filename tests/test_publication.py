"""Atomic publication: a run SIGKILLed while ingesting, transforming or publishing leaves
the published warehouse exactly as it was (the same bytes), and the next run completes
and equals a clean run.

The kill comes from the test hook ``NELMTRACK_TEST_KILL_AT=<point>`` (flows.pipeline),
in a ``nelmtrack run`` subprocess: after the first file is written into the build,
between the responses and labs stages, and after the build is synced just before the
rename that publishes it.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from pipeline_helpers import (
    CONFIG,
    TEST_KEY,
    cli_env,
    file_sha256,
    make_source,
    once_per_session,
    only_file,
    query,
    read_csv,
    result_rows,
    run_cli,
    write_csv,
)

from flows.pipeline import KILL_POINTS, TEST_KILL_ENV, run_pipeline
from warehouse import PUBLIC_COLUMNS

pytestmark = pytest.mark.slow


def changed_copy(v1: Path, v2: Path) -> Path:
    """v1 with one lesion diameter changed and a second labs file."""
    shutil.copytree(v1, v2)
    lesions = only_file(v2, "lesions")
    rows = read_csv(lesions)
    size = rows[0].index("longest_diameter_mm")
    row = next(r for r in rows[1:] if r[size])
    row[size] = f"{float(row[size]) + 4.0:.1f}"
    write_csv(lesions, rows)
    labs = read_csv(only_file(v2, "labs"))
    write_csv(v2 / "labs_more.csv", [labs[0], *labs[1:40]])
    return v2


def run_args(source: Path, db: Path, *extra: str) -> list[str]:
    config = ["--config", CONFIG] if CONFIG else []
    return ["run", "--source", str(source), "--db", str(db), *config, *extra]


def published_v1(root: Path) -> dict[str, str]:
    v1 = make_source(root / "v1", patients=30, seed=21)
    v2 = changed_copy(v1, root / "v2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
        run_pipeline(v1, root / "v1.duckdb", CONFIG)
        run_pipeline(v2, root / "clean_v2.duckdb", CONFIG)
    return {"v1": str(v1), "v2": str(v2), "db": str(root / "v1.duckdb")}


@pytest.fixture(scope="module")
def warehouse_v1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A warehouse published from v1, a changed source v2, and a clean warehouse of v2."""
    paths = once_per_session(tmp_path_factory, "publication", published_v1)
    return {name: Path(path) for name, path in paths.items()}


def every_table(db: Path) -> dict[str, list[tuple]]:
    """All public tables with run_id, the raw layer and meta: the whole visible state."""
    state = result_rows(db, tuple(PUBLIC_COLUMNS))
    for schema, name in query(
        db,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('raw', 'meta') OR table_name IN "
        "('pipeline_runs', 'ingested_files', 'dq_results') ORDER BY ALL",
    ):
        state[f"{schema}.{name}"] = query(db, f"SELECT * FROM {schema}.{name} ORDER BY ALL")
    return state


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): file_sha256(p) for p in folder.rglob("*") if p.is_file()}


def test_sigkill_at_any_stage_leaves_the_published_state_and_the_rerun_equals_a_clean_run(
    warehouse_v1: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path
    shared = warehouse_v1["db"].parent
    db = root / "killed.duckdb"
    shutil.copyfile(warehouse_v1["db"], db)
    report = shutil.copytree(shared / "v1_dq", root / "killed_dq")  # its data-quality report
    published_bytes = file_sha256(db)
    published_state = every_table(db)
    published_report = folder_digest(report)

    for point in KILL_POINTS:
        killed = run_cli(*run_args(warehouse_v1["v2"], db), env=cli_env(**{TEST_KILL_ENV: point}))
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-3000:])
        assert file_sha256(db) == published_bytes, point
        assert every_table(db) == published_state, point
        assert folder_digest(report) == published_report, point
        assert list(root.glob("killed.duckdb.building-*")), point  # what the dead run left

    rerun = run_cli(*run_args(warehouse_v1["v2"], db))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not list(root.glob("killed.duckdb.building-*"))
    assert not list(root.glob("killed_dq.*"))
    assert folder_digest(report) != published_report
    assert (
        query(db, "SELECT max(run_id) FROM pipeline_runs")[0][0]
        in (report / "index.html").read_text()
    )
    assert "files: 1 new, 1 changed," in rerun.stdout
    assert result_rows(db) == result_rows(shared / "clean_v2.duckdb")
    # The killed runs left no trace in the audit tables; the rerun did.
    assert query(db, "SELECT count(*), count(DISTINCT status) FROM pipeline_runs") == [(2, 1)]


def test_a_fatal_error_publishes_nothing(warehouse_v1: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(warehouse_v1["db"], db)
    published_bytes = file_sha256(db)
    broken = tmp_path / "broken"
    shutil.copytree(warehouse_v1["v2"], broken)
    (broken / "imaging_bad.parquet").write_bytes(b"not a parquet file")
    failed = run_cli(*run_args(broken, db))
    assert failed.returncode == 2
    assert "imaging_bad.parquet" in failed.stderr
    assert file_sha256(db) == published_bytes
    assert not list(tmp_path.glob("wh.duckdb.building-*"))
    assert not list(tmp_path.glob("wh_dq*"))
