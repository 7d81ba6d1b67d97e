"""The checks a run makes before Prefect is imported or started.

A mistake a user can make (a missing folder, a bad Dask address, no key) is
reported in one line at once, instead of after the seconds it takes to import
Prefect and create a flow run. Nothing here imports Prefect.
"""

from __future__ import annotations

from pathlib import Path

from config import load_config
from flows.privacy import check_key_available
from flows.shards import check_dask_address
from sources import discover
from warehouse import WarehouseError, open_read_only


def preflight(
    source: str | Path,
    db: str | Path,
    config_file: str | Path | None,
    demo: bool,
    dask_address: str | None = None,
) -> None:
    """Catch the mistakes a user can make before Prefect starts (a few seconds saved, and
    one clear line instead of a failed flow run)."""
    cfg = load_config(config_file)
    check_dask_address(cfg.value("run.dask_address") if dask_address is None else dask_address)
    discover(source)
    db_path = Path(db).resolve()
    if not db_path.parent.is_dir():
        raise WarehouseError(f"folder {db_path.parent} does not exist")
    if db_path.exists():
        open_read_only(db_path).close()
    check_key_available(cfg, demo)
