"""`bridge report`: the method-by-task table on screen and artifacts/report/index.md with figures."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from embridge.stages.common import ParamsOption, SetOption, params_from


def report(params: Path = ParamsOption, overrides: list[str] = SetOption) -> None:
    """Reads params.yaml, artifacts/metrics/, plots/, projections/, each bridge's bridge.json (training
    curves) and report.yaml when present (papers' claims, sweep tables);
    writes artifacts/report/index.md with PNG figures and prints the results table."""
    from embridge.evaluate.tasks import headline
    from embridge.papers import load_report_config
    from embridge.report import (
        build_report,
        claim_sections,
        emergent_matrix,
        preservation,
        protocol_line,
        seed_table,
        summary_rows,
    )

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
        table.add_row(r.task, r.spec.kind, r.method, headline(r.spec.kind, r.spec.options), r.value,
                      f"{kept:.1f}%" if kept is not None else "")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    for task in (r.task for r in rows if r.spec.kind == "emergent"):
        names, recall, trained = emergent_matrix(cfg, Path("."), task)
        matrix = Table(title=f"{task}: R@1, query (row) -> gallery (column); * trained pair, others never paired")
        for column in ["query \\ gallery", *names]:
            matrix.add_column(column, justify="left" if column.startswith("query") else "right")
        for i, name in enumerate(names):
            matrix.add_row(name, *("" if i == j else f"{recall[i, j]:.3f}{'*' if trained[i, j] else ''}"
                                   for j in range(len(names))))
        console.print(matrix)
    seeded = seed_table(rows)
    for kind in dict.fromkeys(r["kind"] for r in seeded):  # tasks named <task>-s<k>: one per dataset seed
        part = [r for r in seeded if r["kind"] == kind]
        columns = list(dict.fromkeys(c for r in part for c in r if c != "kind"))
        over = Table(title=f"{kind} over dataset seeds (mean ± std)")
        for column in columns:
            over.add_column(column, justify="left" if column in ("task", "bridge") else "right")
        for r in part:
            over.add_row(*(r.get(c, "") for c in columns))
        console.print(over)
    for title, claims in claim_sections(rows, cfg, load_report_config()):
        papers = Table(title=title)
        for column in ("paper", "claim", "paper says", "ours", "verdict"):
            papers.add_column(column, justify="right" if column == "ours" else "left")
        for row in claims:
            papers.add_row(*row.values())
        console.print(papers)
    for r in rows:  # the protocol of each number, under the table
        console.print(protocol_line(r.task), highlight=False, soft_wrap=True, markup=False)
    console.print(f"report: {index}")
