"""Terminal summary of data-quality results for ``nelmtrack dq --db PATH``."""

from __future__ import annotations

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from expectations.suites import SEVERITIES


def print_dq_summary(dq_results: pa.Table, console: Console) -> None:
    """Counts by Kahn category and severity, then the failing checks (counts only, no values).

    ``dq_results`` are rows of the ``dq_results`` table, typically those of the
    latest run.
    """
    from expectations.runner import summarise

    if dq_results.num_rows == 0:
        console.print("No data-quality results.")
        return
    run_ids = sorted(set(dq_results.column("run_id").to_pylist()))
    overview = Table(title=f"Data quality, run {', '.join(run_ids)}")
    for name in ("Kahn category", "severity", "checks", "passed", "failed"):
        overview.add_column(
            name, justify="right" if name in ("checks", "passed", "failed") else "left"
        )
    for row in summarise(dq_results).to_pylist():
        failed = f"[bold red]{row['failed']}[/]" if row["failed"] else "0"
        overview.add_row(
            row["kahn_category"], row["severity"], str(row["checks"]), str(row["passed"]), failed
        )
    console.print(overview)

    rows = [r for r in dq_results.to_pylist() if not r["success"]]
    if not rows:
        console.print("[green]Every check passed.[/]")
        return
    order = {s: i for i, s in enumerate(SEVERITIES)}
    rows.sort(key=lambda r: (order.get(r["severity"], len(order)), r["suite"], r["expectation"]))
    failing = Table(title="Failing checks")
    for name in ("severity", "Kahn category", "suite", "check", "failing rows", "rows checked"):
        failing.add_column(
            name, justify="right" if name.endswith("rows") or name == "rows checked" else "left"
        )
    for r in rows:
        style = (
            "bold red"
            if r["severity"] == "fatal"
            else ("red" if r["severity"] == "error" else "yellow")
        )
        failing.add_row(
            f"[{style}]{r['severity']}[/]",
            r["kahn_category"] or "",
            r["suite"],
            r["expectation"],
            "" if r["unexpected_count"] is None else str(r["unexpected_count"]),
            "" if r["element_count"] is None else str(r["element_count"]),
        )
    console.print(failing)
