"""`bridge encoders`: what can be extracted with, before writing params.yaml.

Lists the encoder families with their towers, the hub ids that resolve
offline to an installed package, and the encoders defined in params.yaml;
``--load`` loads each of those to show every tower's dim (slow for big models,
so not the default).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from embridge.core.catalog import FAMILIES
from embridge.stages.common import ParamsOption, SetOption, params_from


def encoders(
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
    load: bool = typer.Option(False, "--load", help="Load each params.yaml encoder and show its towers' dims."),
) -> None:
    """Reads params.yaml (encoders) if present; prints families, packaged models and configured encoders."""
    from embridge.encoders.registry import load_encoder
    from embridge.encoders.resolve import PACKAGED
    from embridge.extract.plan import resolve_world

    out = Console()
    families = Table(title="encoder families (params.yaml: encoders.<name>.model = '<family>:<model>')")
    for column in ("family", "towers", "<model> names", "example"):
        families.add_column(column)
    for family in FAMILIES.entries():
        families.add_row(family.name, ", ".join(family.info["towers"]) or "yours", family.summary,
                         family.info["example"])
    out.print(families)

    packaged = Table(title="hub ids available offline (packaged copies)")
    for column in ("id", "package", "installed"):
        packaged.add_column(column)
    for hub_id, package in PACKAGED.items():
        packaged.add_row(hub_id, package.distribution, "yes" if package.path() is not None else "no")
    out.print(packaged)

    if not params.exists():
        return
    cfg = params_from(params, overrides)
    configured = Table(title=f"encoders in {params}")
    for column in ("name", "model", "towers"):
        configured.add_column(column)
    for name, spec in cfg.encoders.items():
        if load:
            encoder = load_encoder(spec.model, resolve_world(cfg, spec.options))
            towers = ", ".join(f"{t} ({tower.modality}, {tower.dim}-d)" for t, tower in encoder.towers.items())
        else:
            towers = ", ".join(spec.options.get("towers") or FAMILIES.get(spec.model.partition(":")[0]).info["towers"])
        configured.add_row(name, spec.model, towers)
    out.print(configured)
