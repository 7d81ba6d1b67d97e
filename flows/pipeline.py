"""The Prefect flow of one batch run: one coarse task per stage.

Each Prefect task run costs tens of milliseconds, so a task is a whole stage
over all patients, never a patient. The flow's parameters are the source
folder, the warehouse path and options: no identifier ever reaches Prefect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NONE

from config import Config, load_config
from flows import stages
from sources import Pseudonymiser, discover
from warehouse import WarehouseError, open_read_only, run_lock, start_build

DEMO_PSEUDONYM_KEY = b"nelmtrack-demo-key: public, for the synthetic demo cohort only"
KEY_ENV = "NELMTRACK_PSEUDONYM_KEY"


@dataclass
class RunSummary:
    run_id: str
    db_path: str
    docs_dir: str | None
    report: stages.IngestReport
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    recomputed: bool = True


class ConfigurationError(Exception):
    """The run cannot start as configured; the message says what to set."""


def pseudonymiser_for(cfg: Config, demo: bool) -> Pseudonymiser | None:
    """The keyed hash for patient identifiers, or None when they are already pseudonymous."""
    if demo:
        return Pseudonymiser(DEMO_PSEUDONYM_KEY)
    secret = os.environ.get(KEY_ENV, "")
    if secret:
        return Pseudonymiser(secret.encode())
    if cfg.value("privacy.identifiers_already_pseudonymous"):
        return None
    raise ConfigurationError(
        f"set {KEY_ENV} to a secret (patient identifiers are replaced by a keyed hash), or "
        "declare `privacy.identifiers_already_pseudonymous = true` in the config file"
    )


def preflight(
    source: str | Path, db: str | Path, config_file: str | Path | None, demo: bool
) -> None:
    """Catch the mistakes a user can make before Prefect starts (a few seconds saved, and
    one clear line instead of a failed flow run)."""
    cfg = load_config(config_file)
    discover(source)
    db_path = Path(db).resolve()
    if not db_path.parent.is_dir():
        raise WarehouseError(f"folder {db_path.parent} does not exist")
    if db_path.exists():
        open_read_only(db_path).close()
    pseudonymiser_for(cfg, demo)


_task = task(cache_policy=NONE, persist_result=False)


@_task(name="ingest")
def ingest_task(ctx: stages.RunContext) -> stages.IngestReport:
    return stages.ingest(ctx)


@_task(name="stage")
def stage_task(ctx: stages.RunContext) -> dict[str, int]:
    return stages.stage(ctx)


@_task(name="responses")
def responses_task(ctx: stages.RunContext) -> None:
    stages.responses(ctx)


@_task(name="labs")
def labs_task(ctx: stages.RunContext) -> None:
    stages.labs(ctx)


@_task(name="quality")
def quality_task(ctx: stages.RunContext, docs_dir: Path | None) -> list[str]:
    return stages.quality(ctx, docs_dir)


@_task(name="publish")
def publish_task(ctx: stages.RunContext, report: stages.IngestReport) -> None:
    stages.record_run(ctx, report, "succeeded")
    ctx.build.publish()


def run_pipeline(
    source: str | Path,
    db: str | Path,
    config_file: str | Path | None = None,
    full_refresh: bool = False,
    prune: bool = False,
    demo: bool = False,
    progress: stages.Progress | None = None,
) -> RunSummary:
    """One batch run, as plain Python (the flow below wraps it for Prefect)."""
    cfg = load_config(config_file)
    pseudonymiser = pseudonymiser_for(cfg, demo)
    db_path = Path(db).resolve()
    docs_dir = db_path.parent / f"{db_path.stem}_dq"
    say = progress or (lambda message: None)
    with run_lock(db_path, cfg.value("run.lock_wait_seconds")):
        run_id = stages.new_run_id()
        build = start_build(db_path, run_id, full_refresh=full_refresh)
        try:
            ctx = stages.RunContext(
                build=build,
                cfg=cfg,
                source_dir=Path(source),
                prune=prune,
                pseudonymiser=pseudonymiser,
                progress=say,
            )
            report = ingest_task(ctx)
            recompute = report.anything_changed or stages.last_config_hash(build) != cfg.hash
            failed: list[str] = []
            if recompute:
                stage_task(ctx)
                say("computing responses")
                responses_task(ctx)
                say("computing labs, flags and eligibility")
                labs_task(ctx)
                say("checking data quality")
                failed = quality_task(ctx, docs_dir)
            summary = RunSummary(
                run_id=run_id,
                db_path=str(db_path),
                docs_dir=str(docs_dir) if recompute else None,
                report=report,
                counts=stages.dataset_counts(build),
                quarantine_by_reason=dict(stages.quarantine_by_reason(build)),
                failed_checks=failed,
                recomputed=recompute,
            )
            say("publishing")
            publish_task(ctx, report)
        except BaseException:
            build.abort()
            raise
    return summary


@flow(name="nelmtrack-run", persist_result=False, log_prints=False)
def pipeline_flow(
    source: str,
    db: str,
    config_file: str | None = None,
    full_refresh: bool = False,
    prune: bool = False,
    demo: bool = False,
) -> RunSummary:
    """Ingest the source folder, compute responses, labs and data quality, publish atomically."""
    return run_pipeline(source, db, config_file, full_refresh, prune, demo, _PROGRESS.get())


class _ProgressHolder:
    """The CLI's progress callback: kept out of the flow's parameters (Prefect records those)."""

    fn: stages.Progress | None = None

    def get(self) -> stages.Progress | None:
        return self.fn


_PROGRESS = _ProgressHolder()


def run_flow(progress: stages.Progress | None = None, **params: object) -> RunSummary:
    _PROGRESS.fn = progress
    try:
        return pipeline_flow(**params)
    finally:
        _PROGRESS.fn = None


__all__ = ["RunSummary", "run_flow", "run_pipeline", "pipeline_flow", "WarehouseError"]
