"""`bridge extract`: encode a dataset with a frozen encoder tower into an embedding set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embridge.stages.common import ParamsOption, SetOption, console, params_from, progress_bar, say


def extract(
    names: Annotated[list[str] | None, typer.Argument(help="Sets from extract.sets (default: all).")] = None,
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
    partition: Annotated[str | None, typer.Option(
        "--partition", metavar="I/N", help="Write only part I of N (shards whose index % N == I) into "
        ".bridge/parts/; run every part (any scheduler, any machines), then --merge.")] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Assemble the finished parts into the set; "
                                                        "encode nothing.")] = False,
    backend: Annotated[str, typer.Option("--backend", help="local, or ray: encode on Ray actors (pip install "
                                         "'bridge\\[ray]'; joins RAY_ADDRESS or starts a local Ray).")] = "local",
) -> None:
    """Reads params.yaml (datasets, encoders, extract); writes artifacts/embeddings/<dataset>/<encoder>/<tower>/.

    Resumes an interrupted run from its finished shards (kept in .bridge/partial/), leaves an intact set alone,
    and repairs a damaged one by redoing only its bad shards. One run per set at a time (a lock in .bridge/locks/).
    """

    from embridge.extract.partition import Partition
    from embridge.extract.run import extract_set  # imports the encoders and sources: only when extracting

    part = Partition.parse(partition) if partition is not None else None
    cfg = params_from(params, overrides)
    for name in cfg.names("extract.sets", names, str(params)):
        with progress_bar(f"extract {name}") as progress:
            out = extract_set(cfg, name, progress=progress, partition=part, merge=merge, backend=backend,
                              notify=lambda line: say.print(line, markup=False))
        what = f"partition {part} of [bold]{name}[/bold]" if part else f"[bold]{name}[/bold]"
        say.print(f"extracted {what} -> {out}")
        _warn_skipped(name, out)


def _warn_skipped(name: str, out: Path) -> None:
    """One warning line naming the rows ``on_error: skip`` left out: a set with fewer rows is never silent."""
    import json

    try:
        manifest = json.loads((out / "manifest.json").read_text())
        skipped = (manifest.get("source", {}).get("skipped") or []) + (manifest.get("skipped") or [])
    except (OSError, ValueError):
        return
    if skipped:
        shown = "; ".join(f"{s.get('id')!r}: {s.get('reason')}" for s in skipped[:3])
        console.print(f"warning: {name}: {len(skipped)} rows skipped (extract.on_error: skip), e.g. {shown}",
                      soft_wrap=True, highlight=False, markup=False)
