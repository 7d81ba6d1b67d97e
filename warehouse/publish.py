"""Publishing a run: the build file swapped in with one ``os.replace``, and its report folder.

Readers that had the old file open keep reading the old state; new readers
see the new one; nobody ever sees half a run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError


def publish_file(
    con: duckdb.DuckDBPyConnection,
    build_path: Path,
    db_path: Path,
    before_swap: Callable[[], None] | None = None,
) -> None:
    """Checkpoint and close a build, then swap it in place of the published file.

    ``before_swap`` runs once the build is durable and just before the rename
    (the last moment a crash leaves the old state published).
    """
    con.execute("CHECKPOINT")
    con.close()
    wal = build_path.with_name(build_path.name + ".wal")
    if wal.exists():
        raise WarehouseError("the new warehouse did not checkpoint cleanly; nothing published")
    with build_path.open("rb") as fh:
        os.fsync(fh.fileno())
    stale_wal = db_path.with_name(db_path.name + ".wal")
    stale_wal.unlink(missing_ok=True)
    if before_swap is not None:
        before_swap()
    os.replace(build_path, db_path)
    dir_fd = os.open(db_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def stage_folder(target: Path, run_id: str) -> Path:
    """Where a run writes a folder of files it publishes with the warehouse (the DQ report).

    Call only while holding ``run_lock``: staged folders of runs that died are deleted.
    """
    for stale in target.parent.glob(target.name + ".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return target.with_name(f"{target.name}.building-{run_id}")


def publish_folder(staged: Path, target: Path) -> Path:
    """Put a staged folder in place of ``target``: two renames, then the old one is deleted.

    Not atomic as one step (a folder cannot be renamed onto a full one), but a
    reader finds either the old folder, the new one, or briefly none; never a
    folder half written.
    """
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)
    return target
