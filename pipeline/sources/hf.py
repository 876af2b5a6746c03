"""``hf`` source: a dataset saved with ``datasets.save_to_disk`` (a ``Dataset`` or a ``DatasetDict``), read with
pyarrow alone: no ``datasets`` import, no network.

The folder holds Arrow stream files listed in each split's ``state.json``; a ``DatasetDict`` names its
splits in ``dataset_dict.json`` and the rows take their split from it. ``ClassLabel`` columns become their
class names (``dataset_info.json``), ``Image`` / ``Audio`` columns are ``{bytes, path}`` structs whose bytes
are the payload. Columns map as in ``table`` (``options.columns``), and everything after reading is the
table source's: groups, captions, prompts, one-line errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import BridgeError
from pipeline.sources.base import parse_source_options
from pipeline.sources.table import TableOptions, TableSource


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BridgeError(f"{path}: missing (not a folder written by datasets.save_to_disk)") from None
    except json.JSONDecodeError as e:
        raise BridgeError(f"{path}: not valid JSON ({e.msg})") from None


def read_split(folder: Path, split: str) -> pd.DataFrame:
    """One saved ``Dataset``: its Arrow files in order, ClassLabel ints as names."""
    import pyarrow as pa

    state, info = _json(folder / "state.json"), _json(folder / "dataset_info.json")
    tables = []
    for entry in state.get("_data_files", []):
        file = folder / entry["filename"]
        try:
            with pa.memory_map(str(file)) as source:
                tables.append(pa.ipc.open_stream(source).read_all())
        except (OSError, pa.ArrowInvalid) as e:
            raise BridgeError(f"{file}: cannot read as an Arrow stream ({e})") from None
    if not tables:
        raise BridgeError(f"{folder / 'state.json'}: lists no data files")
    frame = pa.concat_tables(tables).to_pandas()
    for column, feature in (info.get("features") or {}).items():
        if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and column in frame:
            names = feature.get("names") or []
            frame[column] = frame[column].map(lambda v, names=names: names[v] if v is not None and 0 <= v < len(names)
                                              else ("" if v is None else str(v)))
    frame["__file_split__"] = split
    return frame


def read_saved(path: Path) -> pd.DataFrame:
    if not path.is_dir():
        raise BridgeError(f"{path}: not a folder (a datasets.save_to_disk output)")
    if (path / "dataset_dict.json").exists():
        splits = _json(path / "dataset_dict.json").get("splits") or []
        frames = [read_split(path / split, split) for split in splits]
        if not frames:
            raise BridgeError(f"{path / 'dataset_dict.json'}: names no splits")
        return pd.concat(frames, ignore_index=True)
    frame = read_split(path, "")
    return frame.drop(columns="__file_split__")  # one Dataset: splits from a column or drawn per group


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> TableSource:
    opts = parse_source_options(TableOptions, options, name)
    return TableSource(name, opts, class_prompts, frame=read_saved(Path(opts.path)))
