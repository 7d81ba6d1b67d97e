"""The Prefect flow of one batch run: one coarse task per stage.

Each Prefect task run costs tens of milliseconds, so a task is a whole stage
over all patients, never a patient; the per-patient work (responses, labs) is
one task per patient shard (``flows/shards.py``), on Prefect's thread pool or a
Dask cluster. The flow's parameters are the source
folder, the warehouse path and options: no identifier ever reaches Prefect.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NONE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from config import load_config
from config.params import EngineSettings
from flows import shards, stages
from flows.privacy import (  # noqa: F401 (re-exported: the CLI and tests know them here)
    DEMO_PSEUDONYM_KEY,
    KEY_ENV,
    ConfigurationError,
    check_key_available,
    pseudonymiser_for,
)
from flows.serve import STOP_FILE_ENV
from flows.shards import shards_needed
from report import report_dir_for
from report.drawing import Drawing
from transforms.derive import DeriveParams
from warehouse import (
    WarehouseError,
    ledger,
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
    after the derived tables are computed (in the build, or by the shard tasks
    into their files, before the build loads them);
    ``publish``: after the build is checkpointed and synced, just before the
    rename that publishes it.
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
    report_dir: str | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    recomputed: bool = True
    # Wall seconds and peak RSS (MB) of each stage of this run (benchmarks/bench_pipeline.py
    # prints them), and the seconds of the response, lab and survival parts of the derive
    # stage (summed over shards).
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_peak_rss_mb: dict[str, int] = field(default_factory=dict)
    derive_seconds: dict[str, float] = field(default_factory=dict)
    # Per shard: rows per derived table and the seconds of its response and lab parts.
    shard_results: list[dict] = field(default_factory=list)


_task = task(cache_policy=NONE, persist_result=False)


@_task(name="ingest")
def ingest_task(ctx: stages.RunContext) -> stages.IngestReport:
    return stages.ingest(ctx)


@_task(name="stage")
def stage_task(ctx: stages.RunContext) -> dict[str, int]:
    return stages.stage(ctx)


@_task(name="derive")
def derive_in_build_task(ctx: stages.RunContext) -> dict[str, float]:
    return stages.derive_in_build(ctx)


@_task(name="shard-inputs")
def shard_inputs_task(ctx: stages.RunContext, folder: Path, job: shards.ShardJob) -> None:
    shards.write_inputs(ctx.build.con, folder, job, stages.recomputed_patients(ctx))


@_task(name="shard")
def shard_task(folder: str, shard: int) -> dict:
    """One patient shard's responses and labs (on a thread, or on a Dask worker)."""
    return shards.run_shard(folder, shard)


@flow(name="nelmtrack-shards", persist_result=False, log_prints=False)
def shards_flow(folder: str, count: int) -> list[dict]:
    """Every shard of one run, mapped onto the flow's task runner (threads or Dask)."""
    return shard_task.map(unmapped(folder), range(count)).result()


@_task(name="load-shards")
def load_shards_task(ctx: stages.RunContext, folder: Path, count: int) -> None:
    shards.load_outputs(
        ctx.build.con, folder, count, ctx.build.run_id, stages.recomputed_patients(ctx)
    )


def shard_task_runner(count: int, dask_address: str) -> TaskRunner:
    """Prefect's thread pool (one thread per core at most), or the dask.distributed
    cluster at ``dask_address`` through prefect-dask."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=min(count, os.cpu_count() or 1))


def derive(
    ctx: stages.RunContext,
    count: int,
    dask_address: str,
    meter: StageMeter,
    results: list[dict],
) -> dict[str, float]:
    """Every derived table of the recomputed patients, in ``count`` patient shards.

    One shard on threads (the default) is derived inside the build database, with
    nothing copied out; more shards, or a Dask cluster, go through Parquet files,
    each shard a task of its own (``flows/shards.py``). Both run the same models.
    Returns the seconds of the response, lab and survival parts, summed over shards.
    """
    if count == 1 and not dask_address:
        with meter.stage("derive"):
            parts = derive_in_build_task(ctx)
        fault_point("transforms")
        return parts
    run = ctx.cfg.section("run")
    folder = shards.run_folder(ctx.build.db_path, run["shard_folder"], ctx.build.run_id)
    cores = os.cpu_count() or 1
    job = shards.ShardJob(
        shards=count,
        params=DeriveParams.from_config(ctx.cfg),
        memory_limit_mb=run["shard_memory_limit_mb"],
        # On threads, the cores are shared by the shards running at once; a Dask
        # worker's DuckDB takes its machine's default.
        threads=0 if dask_address else max(1, cores // min(count, cores)),
    )
    shards.remove_stale_folders(folder)
    try:
        with meter.stage("shard_inputs"):
            shard_inputs_task(ctx, folder, job)
        with meter.stage("shards"):
            runner = shard_task_runner(count, dask_address)
            results += shards_flow.with_options(task_runner=runner)(str(folder), count)
        fault_point("transforms")
        with meter.stage("load_shards"):
            load_shards_task(ctx, folder, count)
    finally:
        if not run["keep_shard_files"]:
            shutil.rmtree(folder, ignore_errors=True)
    parts: dict[str, float] = {}
    for result in results:
        for part, seconds in result["seconds"].items():
            parts[part] = round(parts.get(part, 0.0) + seconds, 3)
    return parts


_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


#: ``NELMTRACK_STAGE_PEAKS=1`` (benchmarks/bench_pipeline.py sets it): record each stage's peak RSS.
STAGE_PEAKS_ENV = "NELMTRACK_STAGE_PEAKS"


# Each stage's seconds (and peak), as it ends: a long run that fails late still leaves
# the figures of the stages it finished (benchmarks/bench_pipeline.py shows them).
STAGE_LOG = logging.getLogger("nelmtrack.stages")


class StageMeter:
    """Wall seconds of each stage of a run and, when asked, each stage's peak RSS.

    The peak is this process's, where DuckDB works (Dask workers are apart). Linux
    resets a process's high-water mark when "5" is written to /proc/self/clear_refs,
    so each stage's peak is its own. The reset also hides the run's true peak from
    tools that read the high-water mark at exit (``/usr/bin/time``), so it is done only
    when ``NELMTRACK_STAGE_PEAKS=1``; where it is not possible, no peak is recorded.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, int] = {}
        self.peaks = os.environ.get(STAGE_PEAKS_ENV) == "1"

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        resettable = self.peaks and _reset_peak_rss()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)
            if resettable:
                self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0), _peak_rss_mb())
            peak = f", peak RSS {self.peak_rss_mb[name]} MB" if name in self.peak_rss_mb else ""
            STAGE_LOG.info("stage %s: %.1f s%s", name, self.seconds[name], peak)


def _reset_peak_rss() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


@_task(name="quality")
def quality_task(ctx: stages.RunContext, docs_dir: Path | None) -> list[str]:
    return stages.quality(ctx, docs_dir)


@_task(name="report")
def report_task(ctx: stages.RunContext, out_dir: Path, drawing: Drawing) -> Callable[[], Path]:
    return stages.outcome_report(ctx, out_dir, drawing)


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
    shards: int | None = None,
    dask_address: str | None = None,
) -> RunSummary:
    """One batch run, as plain Python (the flow below wraps it for Prefect).

    ``shards`` and ``dask_address`` override ``run.shards`` and ``run.dask_address``.
    """
    cfg = load_config(config_file)
    shard_count = shards or cfg.value("run.shards")
    dask_address = cfg.value("run.dask_address") if dask_address is None else dask_address
    meter = StageMeter()
    shard_results: list[dict] = []
    derive_seconds: dict[str, float] = {}
    pseudonymiser = pseudonymiser_for(cfg, demo)
    db_path = Path(db).resolve()
    docs_dir = db_path.parent / f"{db_path.stem}_dq"
    report_dir = report_dir_for(db_path)
    say = progress or (lambda message: None)
    with run_lock(db_path, cfg.value("run.lock_wait_seconds")), contextlib.ExitStack() as stack:
        check_serve_running()
        run_id = stages.new_run_id()
        build = start_build(
            db_path, run_id, full_refresh=full_refresh, engine=EngineSettings.from_config(cfg)
        )
        # The report is written beside the published one and swapped in after the warehouse.
        docs_build = stage_folder(docs_dir, run_id)
        report_build = stage_folder(report_dir, run_id)
        try:
            config_changed = ledger.last_config_hash(build.con) != cfg.hash
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
            with meter.stage("ingest"):
                report = ingest_task(ctx)
            recompute = report.anything_changed or config_changed or build.schema_migrated
            report_due = recompute or not report_dir.exists()
            # The chart workers start (and import Matplotlib) while the run stages and derives.
            drawing = stack.enter_context(
                Drawing(cfg.value("report.chart_processes") if report_due else 0)
            )
            failed: list[str] = []
            if recompute:
                with meter.stage("stage"):
                    stage_task(ctx)
                shard_count = shards_needed(
                    shard_count,
                    stages.recomputed_patient_count(ctx),
                    cfg.value("run.max_patients_per_shard"),
                )
                say(f"computing responses, labs, flags and eligibility ({shard_count} shards)")
                derive_seconds = derive(ctx, shard_count, dask_address, meter, shard_results)
            if report_due:
                say("writing the outcome report")
                with meter.stage("report"):
                    write_report_page = report_task(ctx, report_build, drawing)
            if recompute:
                # The report's charts are drawn meanwhile, in the chart workers.
                say("checking data quality")
                with meter.stage("quality"):
                    failed = quality_task(ctx, docs_build)
            if report_due:
                with meter.stage("report"):
                    write_report_page()
            summary = RunSummary(
                run_id=run_id,
                db_path=str(db_path),
                docs_dir=str(docs_dir) if recompute else None,
                report=report,
                counts=ledger.dataset_counts(build.con),
                quarantine_by_reason=dict(ledger.quarantine_by_reason(build.con)),
                failed_checks=failed,
                recomputed=recompute,
                stage_seconds=meter.seconds,
                stage_peak_rss_mb=meter.peak_rss_mb,
                derive_seconds=derive_seconds,
                shard_results=shard_results,
                report_dir=str(report_dir) if report_due else None,
            )
            say("publishing")
            with meter.stage("publish"):
                publish_task(ctx, report)
                if docs_build.exists():
                    publish_folder(docs_build, docs_dir)
                if report_build.exists():
                    publish_folder(report_build, report_dir)
        except stages.QualityGateError as exc:
            build.abort()
            shutil.rmtree(report_build, ignore_errors=True)
            rejected = docs_dir.with_name(docs_dir.name + ".rejected")
            if docs_build.exists():
                publish_folder(docs_build, rejected)
            raise stages.QualityGateError(
                f"{exc} (the rejected run's report: {rejected / 'index.html'})"
            ) from None
        except BaseException:
            build.abort()
            shutil.rmtree(docs_build, ignore_errors=True)
            shutil.rmtree(report_build, ignore_errors=True)
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
    shards: int | None = None,
    dask_address: str | None = None,
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
        shards=shards,
        dask_address=dask_address,
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
