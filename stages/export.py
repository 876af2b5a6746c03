"""`bridge export`: a copy of an embedding set as float vectors for other tools (npy or float-list Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embridge.stages.common import ParamsOption, SetOption, params_from, say


def export(
    name: Annotated[str, typer.Argument(help="An embedding set from extract.sets.")],
    to: Annotated[str, typer.Option("--to", help="npy (clip-retrieval's emb/ + metadata/ layout) or parquet "
                                    "(embedding as a fixed-size list of float32).")] = "npy",
    out: Annotated[Path | None, typer.Option("--out", help="Folder to write (default: exports/<set>-<to>, "
                                             "or exports/<set>-<bridge>-<to>).")] = None,
    bridge: Annotated[str | None, typer.Option("--bridge", help="Write the vectors mapped into this fitted "
                                               "bridge's shared space.")] = None,
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
) -> None:
    """Reads the set from artifacts/embeddings/ (verifying every shard) and the bridge from artifacts/bridges/;
    writes one file pair (npy) or one Parquet file per shard under --out. The store itself is unchanged."""
    from embridge.core.errors import BridgeError
    from embridge.core.layout import Layout
    from embridge.query import in_space
    from embridge.store.export import EXPORTS, export_set

    if to not in EXPORTS:
        raise BridgeError(f"--to {to!r}: choose one of {', '.join(EXPORTS)}")
    cfg = params_from(params, overrides)
    if name not in cfg.extract.sets:
        raise BridgeError(f"{params}: no set {name!r} in extract.sets; sets: {', '.join(sorted(cfg.extract.sets))}")
    ref = cfg.extract.sets[name]
    target = out or Path("exports") / "-".join([name, *([bridge] if bridge else []), to])
    store = Layout().root.resolve() / "artifacts"
    if target.resolve() == store or target.resolve().is_relative_to(store) or store.is_relative_to(target.resolve()):
        raise BridgeError(f"--out {target}: inside (or holding) the project's artifacts/, which only the stages "
                          "write; choose a folder outside it")
    transform = in_space(cfg, bridge, ref.encoder, ref.tower) if bridge else None
    files = export_set(Layout().embeddings(ref.path), target, to, transform, bridge)  # type: ignore[arg-type]
    via = f" via {bridge}" if bridge else ""
    say.print(f"exported [bold]{name}[/bold]{via} -> {target} ({len(files)} files)", soft_wrap=True)
