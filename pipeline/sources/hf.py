"""``hf`` source: a dataset saved with ``datasets.save_to_disk`` (a ``Dataset`` or a ``DatasetDict``), read with
pyarrow alone: no ``datasets`` import, no network.

The folder holds Arrow stream files listed in each split's ``state.json``; a ``DatasetDict`` names its
splits in ``dataset_dict.json`` and the rows take their split from it. ``ClassLabel`` columns become their
class names (``dataset_info.json``), ``Image`` / ``Audio`` columns are ``{bytes, path}`` structs whose bytes
are the payload. Columns map as in ``table`` (``options.columns``), and everything after reading is the
table source's: groups, captions, prompts, one-line errors.

``options.id`` (``user/name``, with ``revision``, default ``main``) names a Hub dataset instead of a
folder: its local copy in the Hugging Face Hub cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
``~/.cache/huggingface/hub``; what ``huggingface-cli download --repo-type dataset`` or ``load_dataset``
leaves there) is read by the same code: the Hub's Parquet files in its ``train-*`` / ``data/test/...``
layout through the table source, or a ``save_to_disk`` folder as above. Nothing is downloaded: a
dataset with no local copy is one line saying so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import model_validator

from embridge.core.errors import BridgeError
from embridge.sources.base import parse_source_options
from embridge.sources.table import Frames, TableOptions, TableSource


class HFOptions(TableOptions):
    """The table's options, with ``path`` (a ``save_to_disk`` folder) or ``id`` (a Hub dataset) given."""

    path: str = ""
    id: str | None = None
    revision: str = "main"

    @model_validator(mode="after")
    def _one_place(self) -> HFOptions:
        if bool(self.path) == bool(self.id):
            raise ValueError("give exactly one of path (a datasets.save_to_disk folder) and id (a Hub dataset)")
        return self


def hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded repositories (its own environment variables, in its order)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ["HF_HOME"]) if os.environ.get("HF_HOME") else Path.home() / ".cache" / "huggingface"
    return home / "hub"


def hub_snapshot(repo: str, revision: str) -> Path:
    """The local snapshot of dataset ``repo`` at ``revision`` (a branch or tag under ``refs/``, or a commit)."""
    cache = hub_cache()
    folder = cache / f"datasets--{repo.replace('/', '--')}"
    if not folder.is_dir():
        raise BridgeError(f"dataset {repo!r}: no local copy in the Hugging Face cache {cache} (this runs offline: "
                          f"download it where there is network, `huggingface-cli download --repo-type dataset "
                          f"{repo}`, and copy the cache here, or set options.path)")
    ref = folder / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = folder / "snapshots" / commit
    if not snapshot.is_dir():
        have = sorted(p.name for p in (folder / "snapshots").glob("*")) if (folder / "snapshots").is_dir() else []
        raise BridgeError(f"dataset {repo!r}: revision {revision!r} is not in {folder / 'snapshots'} "
                          f"(have: {', '.join(have) or 'none'})")
    return snapshot


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BridgeError(f"{path}: missing (not a folder written by datasets.save_to_disk)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BridgeError(f"{path}: not valid JSON ({getattr(e, 'msg', e)})") from None
    if not isinstance(data, dict):
        raise BridgeError(f"{path}: must hold a JSON object, not a {type(data).__name__}")
    return data


#: the bytes an Arrow IPC stream ends with (continuation marker, then a zero-length message)
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def _ended(file: Path) -> None:
    """Refuse an Arrow stream file without its end-of-stream marker: cut between record batches, it would
    read as fewer rows without an error."""
    with open(file, "rb") as f:
        f.seek(max(f.seek(0, 2) - len(END_OF_STREAM), 0))
        tail = f.read()
    if tail != END_OF_STREAM:
        raise BridgeError(f"{file}: the Arrow stream has no end-of-stream marker (the file was cut); copy it again")


def _files(folder: Path) -> list[Path]:
    """A saved ``Dataset``'s Arrow files, in order, from its ``state.json``."""
    files = [folder / entry["filename"] for entry in _json(folder / "state.json").get("_data_files", [])]
    if not files:
        raise BridgeError(f"{folder / 'state.json'}: lists no data files")
    return files


def _schema(file: Path) -> list[str]:
    """The column names of an Arrow stream file (its schema message alone is read)."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(file)) as source:
            return list(pa.ipc.open_stream(source).schema.names)
    except (OSError, pa.ArrowInvalid) as e:
        raise BridgeError(f"{file}: cannot read as an Arrow stream ({e})") from None


def read_split(folder: Path, split: str | None) -> Iterator[pd.DataFrame]:
    """One saved ``Dataset``: its Arrow files in order, memory-mapped, in frames of at most ``CHUNK_ROWS``
    rows, ClassLabel ints as names; ``split`` (a DatasetDict's) as every row's ``__file_split__``."""
    import pyarrow as pa

    from embridge.sources import table

    files, info = _files(folder), _json(folder / "dataset_info.json")
    features = info.get("features") if isinstance(info.get("features"), dict) else {}
    labels = {column: feature.get("names") or [] for column, feature in features.items()
              if isinstance(feature, dict) and feature.get("_type") == "ClassLabel"}
    read = [0]

    def frame(batches: list, file: Path, first: int) -> pd.DataFrame:
        out = pa.Table.from_batches(batches).to_pandas(integer_object_nulls=True)  # 1 stays 1 next to a null
        for column, names in labels.items():
            if column in out:
                codes = out[column]
                bad = codes.map(lambda v, n=len(names): v is not None and not 0 <= v < n)
                if bad.any():  # ClassLabel -1 is "no label": not a class named "-1"
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise BridgeError(f"{file}: row {first + row + 1}: ClassLabel column {column!r} holds "
                                      f"{codes.iloc[row]} ({'no label' if codes.iloc[row] == -1 else 'out of range'}; "
                                      f"{len(names)} names); drop those rows before saving the dataset")
                out[column] = codes.map(lambda v, names=names: "" if v is None else names[v])
        if split is not None:
            out["__file_split__"] = split
        return out

    for file in files:
        try:
            with pa.memory_map(str(file)) as source:
                batches, rows, first = [], 0, read[0]
                for batch in pa.ipc.open_stream(source):
                    batches.append(batch)
                    rows += len(batch)
                    if rows >= table.CHUNK_ROWS:
                        yield frame(batches, file, first)
                        batches, first, rows = [], first + rows, 0
                if batches:
                    yield frame(batches, file, first)
                read[0] = first + rows
        except (OSError, pa.ArrowInvalid) as e:
            raise BridgeError(f"{file}: cannot read as an Arrow stream ({e})") from None
        _ended(file)


def read_saved(path: Path) -> Frames:
    """The saved dataset's rows as re-readable chunks; its layout is checked now, and its columns are every
    split's (a column only a later split has is still a column: nulls in the splits without it)."""
    if not path.is_dir():
        raise BridgeError(f"{path}: not a folder (a datasets.save_to_disk output)")
    if (path / "dataset_dict.json").exists():
        splits = _json(path / "dataset_dict.json").get("splits") or []
        if not splits:
            raise BridgeError(f"{path / 'dataset_dict.json'}: names no splits")
        parts = [(path / split, split) for split in splits]
    else:
        parts = [(path, None)]  # one Dataset: splits from a column or drawn per group
    columns: dict[str, None] = {}
    for folder, _ in parts:
        files = _files(folder)
        _json(folder / "dataset_info.json")
        columns.update(dict.fromkeys(_schema(files[0])))

    def frames() -> Iterator[pd.DataFrame]:
        for folder, split in parts:
            yield from read_split(folder, split)

    return Frames(list(columns), frames)


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> TableSource:
    opts = parse_source_options(HFOptions, options, name)
    if opts.id is None:
        return TableSource(name, opts, class_prompts, frames=read_saved(Path(opts.path)))
    snapshot = hub_snapshot(opts.id, opts.revision)
    if (snapshot / "dataset_dict.json").exists() or (snapshot / "state.json").exists():
        return TableSource(name, opts.model_copy(update={"path": str(snapshot)}), class_prompts,
                           frames=read_saved(snapshot))
    # the Hub's own layout: Parquet files named by split, read by the table source like any Parquet folder
    given = {k: getattr(opts, k) for k in opts.model_fields_set if k in TableOptions.model_fields}  # keeps
    # which columns were named explicitly (a named column that is absent is an error, a default one is not)
    table = TableOptions(**{**given, "path": str(snapshot), "format": "parquet"})
    return TableSource(name, table, class_prompts)
