"""``table`` source: a CSV, TSV, JSONL or Parquet file, one row per item or per caption.

Column names are configurable (``options.columns``: id, text, image, audio,
label, split, group). A table row gives a text row when it has a text cell
(a list of texts in JSONL/Parquet gives several, ids ``<id>#<k>``) and an
image/audio row when it has a non-empty path cell; an image listed on
several rows (one per caption) is one image row, with the id of its first
row. ``group`` defaults to the media path (else the id), so captions and
their image pair up with no extra column; ``split`` defaults to a seeded
per-group draw. An empty text cell stays a row: extraction's ``on_error``
decides about it. Relative media paths are resolved against ``root``
(default: the table's directory).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from pipeline.core.errors import BridgeError
from pipeline.sources.base import (
    Rows,
    Source,
    SourceOptions,
    assign_splits,
    concat_rows,
    data_files,
    parse_source_options,
    prompt_rows,
)

MEDIA = ("image", "audio")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
            ".pq": "parquet"}


class Columns(SourceOptions):
    """Which table column holds each field; a default name that is absent means "no such field"."""

    id: str = "id"
    text: str = "text"
    image: str = "image"
    audio: str = "audio"
    label: str = "label"
    split: str = "split"
    group: str = "group"


class TableOptions(SourceOptions):
    path: str
    format: Literal["csv", "tsv", "jsonl", "parquet"] | None = None  # default: from the suffix
    columns: Columns = Field(default_factory=Columns)
    root: str | None = None
    class_names: dict[str, str] = Field(default_factory=dict)
    test_fraction: float = Field(0.2, ge=0.0, le=1.0)
    seed: int = 0


#: Hugging Face's parquet layout names each file by its split: ``train-00000-of-00002.parquet``, ``data/test/...``
HF_SPLITS = ("train", "test", "validation", "valid", "dev")


def parquet_files(path: Path) -> list[Path] | None:
    """The Parquet files a directory (and its subfolders) or a glob names, or None for a plain file path."""
    if path.is_dir() or any(c in str(path) for c in "*?["):
        return data_files(path, ".parquet", recursive=True)
    return None


def _hf_split(file: Path) -> str:
    """``train`` for ``.../train-00000-of-00001.parquet`` or ``.../train/x.parquet``; "" when it names none."""
    for name in (file.stem.split("-")[0], file.parent.name):
        if name in HF_SPLITS:
            return name
    return ""


def read_parquet_files(files: list[Path]) -> pd.DataFrame:
    """Every file's rows in file order; a ``__file_split__`` column says which split its file name gives."""
    import pyarrow.parquet as pq

    frames = []
    for file in files:
        try:
            frame = pq.read_table(file).to_pandas()
        except Exception as e:  # noqa: BLE001 - any reader failure names the file
            raise BridgeError(f"{file}: cannot read as parquet ({type(e).__name__}: {e})") from None
        frame["__file_split__"] = _hf_split(file)
        frames.append(frame)
    columns = {tuple(f.columns) for f in frames}
    if len(columns) > 1:
        first, other = sorted(columns)[:2]
        raise BridgeError(f"{files[0].parent}: Parquet files with different columns ({', '.join(first)} / "
                          f"{', '.join(other)})")
    return pd.concat(frames, ignore_index=True)


def read_table(path: Path, fmt: str | None) -> pd.DataFrame:
    named = SUFFIXES.get(path.suffix.lower())  # "tables.csv/" is a CSV path that is a directory, not a folder
    files = parquet_files(path) if fmt == "parquet" or (fmt is None and named in (None, "parquet")) else None
    if files is not None:
        return read_parquet_files(files)
    fmt = fmt or named
    if fmt is None:
        raise BridgeError(f"{path}: unknown table format (suffix {path.suffix!r}); set options.format")
    try:
        if fmt in ("csv", "tsv"):  # every cell a string; an empty cell is "", not NaN
            return pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
        if fmt == "jsonl":
            return _read_jsonl(path)
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise BridgeError(f"{path}: table file not found") from None
    except BridgeError:
        raise
    except Exception as e:  # noqa: BLE001 - any parser failure means an unreadable table
        raise BridgeError(f"{path}: cannot read as {fmt} ({type(e).__name__}: {e})") from None


def _read_jsonl(path: Path) -> pd.DataFrame:
    """One JSON object per line; a bad line is named by its number (pandas gives a byte position)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise BridgeError(f"{path}: line {number}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise BridgeError(f"{path}: line {number}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
    return pd.DataFrame.from_records(records)


def _check_text(path: Path, name: str, cells: pd.Series) -> None:
    """A text column holds strings (or lists of strings); a number there is a wrong column, not a caption."""
    ok = cells.map(lambda v: v is None or isinstance(v, str) or (isinstance(v, (list, tuple, np.ndarray))
                                                                   and all(isinstance(t, str) for t in v)))
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        value = cells.iloc[row]
        shown = value.item() if isinstance(value, np.generic) else value
        raise BridgeError(f"{path}: column {name!r} must hold text, row {row + 1} holds "
                          f"{type(value).__name__} {shown!r}")


def _strings(values: pd.Series) -> np.ndarray:
    """Cells as strings, lists joined with ``|`` (multi-label), null as ``""``."""
    joined = values.map(lambda v: "|".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
    return joined.fillna("").astype(str).to_numpy(dtype=str)


class TableSource(Source):
    """A table read once; ids, labels, groups and splits are resolved for all rows up front so every
    modality's rows agree on them (an image and its captions share group and split)."""

    def __init__(self, name: str, opts: TableOptions, class_prompts: list[str],
                 frame: pd.DataFrame | None = None) -> None:
        """``frame``: rows another reader produced (a ``save_to_disk`` dataset), in place of reading ``path``."""
        self.name, self._opts, self._prompts = name, opts, class_prompts
        self.path = Path(opts.path)
        df = read_table(self.path, opts.format) if frame is None else frame
        explicit = opts.columns.model_fields_set
        self._cols: dict[str, str] = {}
        for field in Columns.model_fields:
            column = getattr(opts.columns, field)
            if column in df.columns:
                self._cols[field] = column
            elif field in explicit:
                raise BridgeError(f"{self.path}: no column {column!r} (datasets.{name}.options.columns.{field}); "
                                  f"columns: {', '.join(map(str, df.columns))}")
        if not {"text", *MEDIA} & set(self._cols):
            raise BridgeError(f"{self.path}: no text, image or audio column (looked for "
                              f"{opts.columns.text!r}, {opts.columns.image!r}, {opts.columns.audio!r}); "
                              f"set datasets.{name}.options.columns")
        self._df = df
        n = len(df)
        self._ids = _strings(df[self._cols["id"]]) if "id" in self._cols else \
            np.char.add("row-", np.arange(n).astype(str))
        if len(np.unique(self._ids)) != n:
            raise BridgeError(f"{self.path}: column {self._cols['id']!r} has duplicate ids")
        self._labels = _strings(df[self._cols["label"]]) if "label" in self._cols else np.full(n, "")
        media = next((self._media_keys(m) for m in MEDIA if m in self._cols), np.full(n, ""))
        self._groups = _strings(df[self._cols["group"]]) if "group" in self._cols else \
            np.where(media != "", media, self._ids)
        if "split" in self._cols:
            self._splits = _strings(df[self._cols["split"]])
        elif "__file_split__" in df.columns and (df["__file_split__"] != "").all():
            self._splits = df["__file_split__"].to_numpy(dtype=str)  # Hugging Face's train-*/test-* files
        else:
            self._splits = assign_splits(self._groups, opts.test_fraction, opts.seed)

    def _media(self, modality: str) -> np.ndarray:
        return _strings(self._df[self._cols[modality]])

    def _embedded(self, modality: str) -> bool:
        """Whether the column holds the media themselves: Hugging Face's ``{"bytes", "path"}`` structs or raw
        bytes, as ``datasets`` writes Image / Audio features to Parquet."""
        cells = self._df[self._cols[modality]]
        first = next((v for v in cells if v is not None), None)
        return isinstance(first, (bytes, dict))

    def _media_keys(self, modality: str) -> np.ndarray:
        """What names an item for grouping: its path, or (embedded media) its struct's path, else its id."""
        if not self._embedded(modality):
            return self._media(modality)
        cells = self._df[self._cols[modality]]
        paths = cells.map(lambda v: (v.get("path") or "") if isinstance(v, dict) else "").to_numpy(dtype=str)
        return np.where(paths != "", paths, self._ids)

    def modalities(self) -> list[str]:
        found = [m for m in ("text", *MEDIA) if m in self._cols]
        return found if "text" in found or not self._prompts else ["text", *found]

    def rows(self, modality: str) -> Rows:
        if modality not in self.modalities():
            raise BridgeError(f"dataset {self.name!r} ({self.path}) has no {modality!r} column")
        if modality in MEDIA:
            return self._media_rows(modality)
        parts = [self._text_rows()] if "text" in self._cols else []
        if self._prompts:
            parts.append(prompt_rows(self._labels, self._prompts, self._opts.class_names))
        return concat_rows(parts)

    def _text_rows(self) -> Rows:
        cells = self._df[self._cols["text"]]
        _check_text(self.path, self._cols["text"], cells)
        exploded = cells.explode()  # list cells -> one row each; scalars stay
        keep = exploded.notna().to_numpy()
        row = exploded.index.to_numpy()[keep]
        listed = cells.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).to_numpy()[row]
        k = pd.Series(row).groupby(row).cumcount().to_numpy().astype(str)
        ids = np.where(listed, np.char.add(np.char.add(self._ids[row], "#"), k), self._ids[row])
        return Rows("text", ids.astype(str), exploded.to_numpy(dtype=object)[keep].astype(str).astype(object),
                    self._labels[row], self._splits[row], self._groups[row])

    def _media_rows(self, modality: str) -> Rows:
        if self._embedded(modality):  # one item per row, the payload its bytes
            cells = self._df[self._cols[modality]]
            data = cells.map(lambda v: v.get("bytes") if isinstance(v, dict) else v).to_numpy(dtype=object)
            row = np.flatnonzero([d is not None for d in data])
            bad = [r for r in row if not isinstance(data[r], bytes)]
            if bad:
                raise BridgeError(f"{self.path}: column {self._cols[modality]!r} row {bad[0] + 1}: expected image "
                                  f"or audio bytes, got {type(data[bad[0]]).__name__}")
            return Rows(modality, self._ids[row], data[row], self._labels[row], self._splits[row], self._groups[row])
        values = self._media(modality)
        present = np.flatnonzero(values != "")
        _, first = np.unique(values[present], return_index=True)
        row = present[np.sort(first)]
        root = Path(self._opts.root) if self._opts.root else self.path.parent
        rel = values[row]
        absolute = np.char.startswith(rel, "/")
        prefix = "" if root == Path(".") else f"{root.as_posix()}/"
        paths = np.where(absolute, rel, np.char.add(prefix, rel)).astype(object)
        return Rows(modality, self._ids[row], paths, self._labels[row], self._splits[row], self._groups[row])


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> TableSource:
    return TableSource(name, parse_source_options(TableOptions, options, name), class_prompts)
