"""`bridge fit`: fit a bridge on cached training vectors."""

from __future__ import annotations

from pathlib import Path

import typer

from embridge.stages.common import ParamsOption, SetOption, console, params_from, say


def fit(
    names: list[str] = typer.Argument(None, help="Bridges from fit.bridges (default: all)."),
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
) -> None:
    """Reads params.yaml (fit.bridges) and artifacts/embeddings/; writes artifacts/bridges/<name>/.

    Each bridge directory holds bridge.json (method, params, spaces, training curve) and weights.safetensors.
    """
    from embridge.bridges.run import fit_bridge, validate_method_params

    cfg = params_from(params, overrides)
    todo = cfg.names("fit.bridges", names, str(params))
    for name in todo:  # every bridge's method params, before any work starts
        if name in cfg.fit.bridges:
            validate_method_params(cfg, name)
    for name in todo:
        with console.status(f"fitting {name}"):
            out = fit_bridge(cfg, name)
        say.print(f"fitted [bold]{name}[/bold] ({cfg.fit.bridges[name].method}) -> {out}")
