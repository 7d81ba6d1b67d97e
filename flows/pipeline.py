"""The Prefect flow of one batch run: one coarse task per stage.

Each Prefect task run costs tens of milliseconds, so a task is a whole stage
over all patients, never a patient. The flow's parameters are the source
folder, the warehouse path and options: no identifier ever reaches Prefect.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from config import load_config
from config.params import EngineSettings
from flows import stages
from flows.privacy import (  # noqa: F401 (re-exported: the CLI and tests know them here)
    DEMO_PSEUDONYM_KEY,
    KEY_ENV,
    ConfigurationError,
    check_key_available,
    pseudonymiser_for,
)
from flows.serve import STOP_FILE_ENV
from sources import discover
from warehouse import (
    WarehouseError,
    open_read_only,
    publish_folder,
    run_lock,
    stage_folder,
    start_build,
)

#: Test hook: ``NELMTRACK_TEST_KILL_AT=<point>`` makes the run SIGKILL itself there.
TEST_KILL_ENV = "NELMTRACK_TEST_KILL_AT"
#: Test hook: ``NELMTRACK_TEST_PAUSE_AT=<point>:<file>`` makes the run create ``<file>`` there
#: and wait for a signal, so a test can interrupt it at a known stage without timing.
TEST_PAUSE_ENV = "NELMTRACK_TEST_PAUSE_AT"
KILL_POINTS = ("ingest", "transforms", "publish")


def fault_point(point: str) -> None:
    """Die at once, as a power cut would, when the test hook names ``point``.

    ``ingest``: after the first file is written into the build; ``transforms``:
    between the responses and the labs stage; ``publish``: after the build is
    checkpointed and synced, just before the rename that publishes it.
    """
    if os.environ.get(TEST_KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
    pause_point, _, marker = os.environ.get(TEST_PAUSE_ENV, "").partition(":")
    if pause_point == point:
        Path(marker).touch()
        while True:  # until a signal (the test sends one) raises out of here
            time.sleep(0.05)


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
    check_key_available(cfg, demo)


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


class ServeStopping(Exception):
    """``nelmtrack serve`` is stopping: a run it started publishes nothing."""


def check_serve_running() -> None:
    """In a run started by ``serve`` (flows.serve sets the variable): refuse to start or to
    publish once serve has begun to stop."""
    stop_file = os.environ.get(STOP_FILE_ENV)
    if stop_file and Path(stop_file).exists():
        raise ServeStopping("nelmtrack serve is stopping: this run publishes nothing")


@_task(name="publish")
def publish_task(ctx: stages.RunContext, report: stages.IngestReport) -> None:
    check_serve_running()
    stages.record_run(ctx, report, "succeeded")
    ctx.build.publish(before_swap=lambda: fault_point("publish"))


def run_pipeline(
    source: str | Path,
    db: str | Path,
    config_file: str | Path | None = None,
    full_refresh: bool = False,
    prune: bool = False,
    demo: bool = False,
    progress: stages.Progress | None = None,
    accept_shrink: bool = False,
) -> RunSummary:
    """One batch run, as plain Python (the flow below wraps it for Prefect)."""
    cfg = load_config(config_file)
    pseudonymiser = pseudonymiser_for(cfg, demo)
    db_path = Path(db).resolve()
    docs_dir = db_path.parent / f"{db_path.stem}_dq"
    say = progress or (lambda message: None)
    with run_lock(db_path, cfg.value("run.lock_wait_seconds")):
        check_serve_running()
        run_id = stages.new_run_id()
        build = start_build(
            db_path, run_id, full_refresh=full_refresh, engine=EngineSettings.from_config(cfg)
        )
        # The report is written beside the published one and swapped in after the warehouse.
        docs_build = stage_folder(docs_dir, run_id)
        try:
            config_changed = stages.last_config_hash(build) != cfg.hash
            ctx = stages.RunContext(
                build=build,
                cfg=cfg,
                source_dir=Path(source),
                prune=prune,
                accept_shrink=accept_shrink,
                pseudonymiser=pseudonymiser,
                progress=say,
                # Otherwise only the patients whose source rows changed are recomputed.
                recompute_all=full_refresh or config_changed or build.schema_migrated,
                fault_point=fault_point,
            )
            report = ingest_task(ctx)
            recompute = report.anything_changed or config_changed or build.schema_migrated
            failed: list[str] = []
            if recompute:
                stage_task(ctx)
                say("computing responses")
                responses_task(ctx)
                fault_point("transforms")
                say("computing labs, flags and eligibility")
                labs_task(ctx)
                say("checking data quality")
                failed = quality_task(ctx, docs_build)
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
            if docs_build.exists():
                publish_folder(docs_build, docs_dir)
        except stages.QualityGateError as exc:
            build.abort()
            rejected = docs_dir.with_name(docs_dir.name + ".rejected")
            if docs_build.exists():
                publish_folder(docs_build, rejected)
            raise stages.QualityGateError(
                f"{exc} (the rejected run's report: {rejected / 'index.html'})"
            ) from None
        except BaseException:
            build.abort()
            shutil.rmtree(docs_build, ignore_errors=True)
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
    accept_shrink: bool = False,
) -> RunSummary:
    """Ingest the source folder, compute responses, labs and data quality, publish atomically."""
    summary = run_pipeline(
        source,
        db,
        config_file,
        full_refresh,
        prune,
        demo,
        _PROGRESS.get(),
        accept_shrink=accept_shrink,
    )
    get_run_logger().info(describe_run(summary))
    return summary


def describe_run(summary: RunSummary) -> str:
    """One log line per run: counts only, never an identifier."""
    r = summary.report
    return (
        f"run {summary.run_id}: files {len(r.new)} new, {len(r.changed)} changed, "
        f"{len(r.unchanged)} unchanged, {len(r.missing)} missing ({len(r.pruned)} pruned); "
        + (
            f"{r.changed_patients} patients with changed source rows; "
            if summary.recomputed
            else "nothing to recompute; "
        )
        + f"published {summary.db_path}"
    )


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
