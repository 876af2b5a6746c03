"""`bridge dvc`: write dvc.yaml from params.yaml (or check that it is up to date)."""

from __future__ import annotations

from pathlib import Path

import typer

from embridge.core.errors import BridgeError
from embridge.stages.common import ParamsOption, SetOption, console, params_from


def dvc(
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
    output: Path = typer.Option(Path("dvc.yaml"), "--output", "-o", help="Where to write the pipeline."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 2 if the file is not what params.yaml "
                                                      "gives (for CI)."),
) -> None:
    """Reads params.yaml; writes dvc.yaml with one stage per set, bridge and task and their exact deps."""
    from embridge.core.files import atomic_write
    from embridge.dag import render, stages

    cfg = params_from(params, overrides)
    text = render(cfg)
    if check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            raise BridgeError(f"{output} is not what {params} gives: run `bridge dvc` to rewrite it")
        console.print(f"{output} is up to date with {params}")
        return
    atomic_write(output, lambda tmp: tmp.write_text(text))
    console.print(f"wrote {output}: {len(stages(cfg))} stages")
