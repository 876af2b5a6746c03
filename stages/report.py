"""`bridge report`: the method-by-task table on screen and artifacts/report/index.md with figures."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from stages.common import ParamsOption, SetOption, params_from


def report(params: Path = ParamsOption, overrides: list[str] = SetOption) -> None:
    """Reads params.yaml (eval), artifacts/metrics/, artifacts/plots/ and artifacts/projections/;
    writes artifacts/report/index.md with PNG figures and prints the results table."""
    from pipeline.core.catalog import headline
    from pipeline.report import build_report, preservation, protocol_line, summary_rows

    cfg = params_from(params, overrides)
    cfg.names("eval.tasks", None, str(params))  # an empty eval section is an error, not an empty report
    index = build_report(cfg)
    rows = summary_rows(cfg)
    by_task = {r.task: r for r in rows}
    table = Table(title="bridge results (test split)")
    for column in ("task", "kind", "bridge", "metric", "value", "preservation"):
        table.add_column(column, justify="right" if column in ("value", "preservation") else "left")
    for r in rows:
        kept = preservation(r, by_task)
        table.add_row(r.task, r.spec.kind, r.method, headline(r.spec.kind, r.spec.options), f"{r.score:.4f}",
                      f"{kept:.1f}%" if kept is not None else "")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    for r in rows:  # the protocol of each number, under the table
        console.print(protocol_line(r.task), highlight=False, soft_wrap=True, markup=False)
    console.print(f"report: {index}")
