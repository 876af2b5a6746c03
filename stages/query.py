"""`bridge embed` and `bridge search`: a fitted bridge in use on new inputs (pipeline/query.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from embridge.stages.common import ParamsOption, SetOption, params_from, say


def _inputs(items: list[str] | None, lines: Path | None) -> list[str]:
    """Inputs from the command line, plus one per line of ``--lines`` (``-`` is stdin)."""
    out = list(items or [])
    if lines is not None:
        from embridge.core.errors import BridgeError

        try:
            text = sys.stdin.read() if str(lines) == "-" else lines.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise BridgeError(f"--lines {lines}: not UTF-8 text (byte {e.start}); give one input per line") from None
        except IsADirectoryError:
            raise BridgeError(f"--lines {lines}: is a folder, not a file of lines") from None
        given = [line for line in text.splitlines() if line.strip()]
        if not given:
            raise BridgeError(f"--lines {lines}: holds no non-empty line to embed")
        out += given
    return out


def embed(
    inputs: Annotated[list[str] | None, typer.Argument(help="Texts, or image / audio file paths.")] = None,
    encoder: Annotated[str, typer.Option("--encoder", help="An encoder of params.yaml (encoders.<name>).")] = "",
    tower: Annotated[str, typer.Option("--tower", help="Its tower: text, image or audio.")] = "text",
    bridge: Annotated[str | None, typer.Option("--bridge", help="Map into this fitted bridge's space.")] = None,
    lines: Annotated[Path | None, typer.Option("--lines", help="Read one input per line of FILE (- = stdin).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Write the vectors here (.npy, float32 [n, d]).")] = Path(
        "embeddings.npy"),
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
) -> None:
    """Reads params.yaml (encoders), the encoder's weights and artifacts/bridges/<bridge>/; writes --out."""
    import numpy as np

    from embridge.core.errors import BridgeError
    from embridge.core.files import atomic_write
    from embridge.query import BridgedEncoder

    if out.is_dir():
        raise BridgeError(f"--out {out}: is a folder; give the .npy file to write")
    items = _inputs(inputs, lines)
    if not items:
        raise BridgeError("nothing to embed: pass inputs, or --lines FILE")
    if not encoder:
        raise BridgeError("--encoder is required (an entry of encoders in params.yaml)")
    vectors = BridgedEncoder(encoder, tower, params_from(params, overrides), bridge).encode(items)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, vectors)

    atomic_write(out, save)
    say.print(f"embedded {len(items)} {tower} inputs -> {out} {list(vectors.shape)}", soft_wrap=True)


def search(
    set_name: Annotated[str, typer.Argument(metavar="SET", help="An embedding set of extract.sets.")],
    text: Annotated[list[str] | None, typer.Option("--text", help="A query text (repeatable).")] = None,
    file: Annotated[list[Path] | None, typer.Option("--file", help="A query image / audio file.")] = None,
    row: Annotated[str | None, typer.Option("--id", help="A row id of the set itself as the query.")] = None,
    vector: Annotated[Path | None, typer.Option("--vector", help="Query vectors (.npy [n, d]) already "
                                                "in the space searched.")] = None,
    bridge: Annotated[str | None, typer.Option("--bridge", help="Search through this fitted bridge.")] = None,
    encoder: Annotated[str | None, typer.Option("--encoder", help="Encoder of the queries (default: the "
                                                "set's own, or the bridge's other space).")] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Results per query.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    params: Path = ParamsOption,
    overrides: list[str] = SetOption,
) -> None:
    """Reads the set (and bridge); builds or reuses artifacts/indexes/<set>/<bridge>.faiss; prints the top k."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from embridge.core.errors import BridgeError
    from embridge.core.vectors import require_scoreable
    from embridge.query import BridgedEncoder, query_space, search_set, set_in_space

    cfg = params_from(params, overrides)
    if sum(x is not None and x != [] for x in (text, file, row, vector)) != 1:
        raise BridgeError("pass exactly one kind of query: --text, --file, --id or --vector")
    if text or file:
        tower = "text" if text else _media_tower(file[0])  # type: ignore[index]
        enc = encoder or query_space(cfg, set_name, bridge, tower)
        queries = BridgedEncoder(enc, tower, cfg, bridge).encode(text or [str(f) for f in file])  # type: ignore[arg-type]
        shown = text or [str(f) for f in file]  # type: ignore[list-item]
    elif row is not None:
        rows, vectors = set_in_space(cfg, set_name, bridge)
        where = np.flatnonzero(rows.ids == row)
        if not len(where):
            raise BridgeError(f"set {set_name!r} has no row with id {row!r}")
        queries, shown = vectors[where[:1]], [row]
    else:
        try:
            queries = np.load(vector, allow_pickle=False)  # type: ignore[arg-type]
        except (OSError, ValueError) as e:
            raise BridgeError(f"{vector}: not a readable .npy of vectors ({e})") from None
        queries = np.atleast_2d(queries)
        if queries.ndim != 2 or queries.dtype.kind not in "fiu":
            raise BridgeError(f"{vector}: expected a [n, d] array of numbers, got {queries.dtype} {list(queries.shape)}")
        require_scoreable(queries.astype(np.float32), str(vector))
        shown = [f"{vector}[{i}]" for i in range(len(queries))]
    try:
        hits = search_set(cfg, set_name, queries, k, bridge)
    except BridgeError as e:
        if vector is not None and "query vectors have dim" in str(e):
            raise BridgeError(f"{vector}: {e}") from None
        raise
    if as_json:
        print(json.dumps([{"query": q, "results": h} for q, h in zip(shown, hits, strict=True)], indent=1))
        return
    out = Console() if Console().is_terminal else Console(width=140)
    for q, h in zip(shown, hits, strict=True):
        table = Table(title=f"{q!r} -> {set_name}" + (f" via {bridge}" if bridge else ""))
        for column in ("rank", "id", "label", "split", "score"):
            table.add_column(column, justify="right" if column in ("rank", "score") else "left")
        for hit in h:
            table.add_row(str(hit["rank"]), hit["id"], hit["label"], hit["split"], f"{hit['score']:.4f}")
        out.print(table)


def _media_tower(path: Path) -> str:
    from embridge.sources.folder import EXTENSIONS

    return "audio" if path.suffix.lower() in EXTENSIONS["audio"] else "image"
