"""`bridge publish`: a fitted bridge as a model folder to share (pipeline/publish.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embridge.stages.common import ParamsOption, SetOption, params_from, say


def publish(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A bridge of fit.bridges, fitted (artifacts/bridges/NAME).")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="The folder to write: a new or empty one, or an earlier "
                                      "publish holding only the files its publish.json lists (replaced whole); "
                                      "not a symlink.")],
    license: Annotated[str, typer.Option("--license", metavar="ID", help="The Hub licence identifier for the model card "
                                         "(lowercase, e.g. apache-2.0, mit); default 'other' with no licence named.")] = "other",
    sentence_transformers: Annotated[list[str] | None, typer.Option(
        "--sentence-transformers", metavar="ROLE", help="Role to write a sentence-transformers folder for (repeatable); default: "
        "every role whose encoder is an st: text model; 'none' for none.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", metavar="SEED", help="For a bridge fitted over seeds: which one "
                                             "(default its first).")] = None,
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
) -> None:
    """Reads params.yaml, artifacts/bridges/NAME, the sets' manifests and artifacts/protocols + metrics;
    writes --out: bridge.json, weights.safetensors, README.md (model card), onnx/<role>.onnx, and
    sentence-transformers/<role>/ for st: text towers, each checked before anything is written."""
    import time

    from embridge.publish import publish as publish_folder

    started = time.perf_counter()
    done = publish_folder(params_from(params, overrides), name, out, Path("."), license, sentence_transformers, seed)
    onnx = ", ".join(f"{r} {e:.1e}" for r, e in done.onnx_errors.items()) or f"none ({done.no_onnx})"
    say.print(f"published [bold]{name}[/bold] -> {out} ({len(done.files)} files, "
              f"{time.perf_counter() - started:.1f} s)", soft_wrap=True)
    say.print(f"  ONNX vs numpy, max abs error: {onnx}", soft_wrap=True)
    for role, error in done.st_errors.items():
        say.print(f"  sentence-transformers/{role} vs bridge embed, max abs error: {error:.1e}", soft_wrap=True)
    say.print(f"  eval tasks in the card: {len(done.tasks)}" + (f"; left out: {len(done.left_out)} ("
              + "; ".join(f"{x['task']}: {x['why']}" for x in done.left_out) + ")" if done.left_out else ""),
              soft_wrap=True)
