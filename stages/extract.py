"""`bridge extract`: encode a dataset with a frozen encoder tower into an embedding set."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.extract import extract_set
from stages.common import ParamsOption, SetOption, console, params_from, progress_bar


def extract(
    names: list[str] = typer.Argument(None, help="Sets from extract.sets (default: all)."),
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
) -> None:
    """Reads params.yaml (datasets, encoders, extract); writes artifacts/embeddings/<dataset>/<encoder>/<tower>/.

    Resumes an interrupted run from its finished shards (kept in .bridge/partial/).
    """
    cfg = params_from(params, overrides)
    for name in names or sorted(cfg.extract.sets):
        with progress_bar(f"extract {name}") as progress:
            out = extract_set(cfg, name, progress=progress)
        console.print(f"extracted [bold]{name}[/bold] -> {out}")
