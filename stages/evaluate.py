"""`bridge eval`: score tasks with FAISS and print a results table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from embridge.stages.common import ParamsOption, SetOption, params_from


def evaluate(
    names: list[str] = typer.Argument(None, help="Tasks from eval.tasks (default: all)."),
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
) -> None:
    """Reads params.yaml (eval), artifacts/embeddings/ and artifacts/bridges/;
    writes artifacts/metrics/<task>.json and artifacts/plots/<kind>/<task>.csv, and prints a table."""
    from embridge.evaluate.run import run_task  # imports faiss: only when evaluating

    cfg = params_from(params, overrides)
    results = {name: run_task(cfg, name) for name in cfg.names("eval.tasks", names, str(params))}
    table = Table(title="bridge eval")
    table.add_column("task")
    from embridge.core.catalog import KINDS
    from embridge.evaluate.tasks import task_kind

    columns = [c for kind in KINDS for c in task_kind(kind).columns]
    shown = [m for m in dict.fromkeys(columns) if any(m in r for r in results.values())]
    for metric in shown:
        table.add_column(metric, justify="right")
    for name, result in results.items():
        table.add_row(name, *(f"{result[m]:.4f}" if m in result else "" for m in shown))
    console = Console()
    if not console.is_terminal:  # logs and `dvc repro` output: don't squeeze the columns
        console = Console(width=220)
    console.print(table)
    warn = Console(stderr=True)
    for name, result in results.items():  # numbers the tie rule or the index decided: say so, every time
        if result.get("q2g/cross_modal_index"):
            warn.print(f"warning: eval.tasks.{name}: the approximate index ({cfg.eval.index}) is built on one "
                       f"modality and queried by another; its recall against exact search: "
                       f"q2g {result['q2g/index_recall@10']:.3f}, g2q {result['g2q/index_recall@10']:.3f}",
                       highlight=False, soft_wrap=True)
        for direction in ("q2g", "g2q"):
            tied = int(result.get(f"{direction}/tie_dependent", 0))
            if tied:
                warn.print(f"warning: eval.tasks.{name} ({direction}): {tied} queries' ranks depend "
                                           "on the tie rule (the gallery holds exact duplicates of their best "
                                           "positive); see its protocol card", highlight=False, soft_wrap=True)
