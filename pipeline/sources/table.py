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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.core.vectors import name_hash
from embridge.sources.base import (
    PartedRows,
    Rows,
    Source,
    SourceOptions,
    assign_splits,
    check_values,
    concat_rows,
    data_files,
    first_duplicate,
    parquet_batches,
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


#: table rows per chunk: what a table source holds of its payloads (texts, embedded image bytes) at a time
CHUNK_ROWS = 65536

@dataclass(frozen=True)
class Frames:
    """Another reader's rows (a ``save_to_disk`` dataset): ``read()`` reads them again, in chunks of at most
    ``CHUNK_ROWS`` rows; ``columns`` are every column any chunk may have (a DatasetDict's splits may differ)."""

    columns: list[str]
    read: Callable[[], Iterator[pd.DataFrame]]


class Chunks:
    """A table's rows as DataFrames of at most ``CHUNK_ROWS`` rows, in file order.

    ``chunk(k)`` reads forward from where the last read stopped and starts
    the file again for an earlier chunk: extraction reads the parts in order
    (once to fingerprint, once to encode), so a file is read three times in
    all, never held whole. CSV/TSV cells are strings (an empty cell is "");
    JSONL lines are parsed one at a time and named by number when bad; a
    Parquet folder or glob (Hugging Face's layout) is read file by file in
    batches, each chunk carrying the split its file name gives.
    """

    def __init__(self, path: Path, fmt: str | None, frames: Frames | None = None) -> None:
        self.path, self.frames = path, frames
        named = SUFFIXES.get(path.suffix.lower())  # "tables.csv/" is a CSV path that is a directory
        self.files = None if frames is not None else \
            parquet_files(path) if fmt == "parquet" or (fmt is None and named in (None, "parquet")) else None
        self.folder = self.files is not None  # splits from file names only for a folder or glob of files
        self.fmt = "frame" if frames is not None else "parquet" if self.files is not None else (fmt or named)
        if self.fmt is None:
            raise BridgeError(f"{path}: unknown table format (suffix {path.suffix!r}); set options.format")
        if self.fmt != "frame" and not path.exists() and not self.folder:
            raise BridgeError(f"{path}: table file not found")
        if self.fmt == "parquet":
            self.files = self.files or [path]
            self._check_schemas()
            if self.folder:
                named = [f for f in self.files if _hf_split(f)]
                unnamed = [f for f in self.files if not _hf_split(f)]
                if named and unnamed:  # one such file would switch file-name splits off for every file
                    raise BridgeError(f"{unnamed[0]}: its name gives no split ({', '.join(HF_SPLITS)}) while "
                                      f"{len(named)} other files' names do (e.g. {named[0].name}); rename it, or "
                                      "give the table a split column")
        self._iter: Any = None
        self._next = 0

    def _check_schemas(self) -> None:
        import pyarrow.parquet as pq

        names: dict[Path, tuple[str, ...]] = {}
        for file in self.files or []:
            try:
                names[file] = tuple(pq.ParquetFile(file).schema_arrow.names)
            except Exception as e:  # noqa: BLE001 - any reader failure names the file
                raise BridgeError(f"{file}: cannot read as parquet ({type(e).__name__}: {e})") from None
        if len(set(names.values())) > 1:
            first, other = sorted(set(names.values()))[:2]
            raise BridgeError(f"{self.files[0].parent}: Parquet files with different columns ({', '.join(first)} / "
                              f"{', '.join(other)})")
        self._schema = list(next(iter(names.values())))

    def _read(self):
        if self.fmt == "frame":
            yield from self.frames.read()
        elif self.fmt == "parquet":
            for file in self.files:
                try:
                    for batch in parquet_batches(file, CHUNK_ROWS):
                        frame = batch.to_pandas(integer_object_nulls=True)  # 1 stays 1 next to a null
                        if self.folder:
                            frame["__file_split__"] = _hf_split(file)
                        yield frame
                except Exception as e:  # noqa: BLE001 - any reader failure names the file
                    raise BridgeError(f"{file}: cannot read as parquet ({type(e).__name__}: {e})") from None
        elif self.fmt == "jsonl":
            yield from _read_jsonl(self.path)
        else:
            yield from self._csv(chunksize=CHUNK_ROWS)

    def _csv(self, **read: Any):
        try:  # every cell a string; an empty cell is "", not NaN
            frames = pd.read_csv(self.path, sep="," if self.fmt == "csv" else "\t", dtype=str,
                                 keep_default_na=False, **read)
            yield from [frames] if isinstance(frames, pd.DataFrame) else frames
        except FileNotFoundError:
            raise BridgeError(f"{self.path}: table file not found") from None
        except Exception as e:  # noqa: BLE001 - any parser failure means an unreadable table
            raise BridgeError(f"{self.path}: cannot read as {self.fmt} ({type(e).__name__}: {e})") from None

    def columns(self) -> list[str]:
        """Every column any chunk may have, known before (and without) reading a row: a Parquet schema, a
        CSV header, the frames' own list, or the keys of all of a JSONL file's lines in order of first
        appearance (a key only later lines have is a column too). An empty table still has its columns."""
        if self.fmt == "frame":
            return list(self.frames.columns)
        if self.fmt == "parquet":
            return list(self._schema)
        if self.fmt in ("csv", "tsv"):
            return [str(c) for c in next(self._csv(nrows=0)).columns]
        keys: dict[str, None] = {}
        for frame in _read_jsonl(self.path):
            keys.update(dict.fromkeys(frame.columns))
        return list(keys)

    def __iter__(self):
        """(first row, chunk) of every chunk, from the start of the file."""
        self._iter, self._next, start = self._read(), 0, 0
        for frame in self._iter:
            self._next += 1
            yield start, frame
            start += len(frame)

    def chunk(self, k: int) -> pd.DataFrame:
        if self._iter is None or k < self._next:
            self._iter, self._next = self._read(), 0
        while True:
            frame = next(self._iter)
            self._next += 1
            if self._next - 1 == k:
                return frame


def _read_jsonl(path: Path):
    """One JSON object per line, ``CHUNK_ROWS`` objects per frame; a bad line is named by its number."""
    records = []
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - a generator holds it while its chunks are read
    except FileNotFoundError:
        raise BridgeError(f"{path}: table file not found") from None
    except OSError as e:
        raise BridgeError(f"{path}: cannot read as jsonl ({type(e).__name__}: {e})") from None
    with f:
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
            if len(records) == CHUNK_ROWS:
                yield _frame(records)
                records = []
    if records:
        yield _frame(records)


def _frame(records: list[dict]) -> pd.DataFrame:
    """JSON values as parsed (objects: ``1`` stays an int next to a missing key, which pandas would
    otherwise turn into a float column in that chunk alone, ``1.0``); a missing key is NaN, a null."""
    return pd.DataFrame(records, dtype=object)


def _null(value: Any) -> bool:
    """A missing cell: None, pandas' NA, or the NaN pandas puts where a JSONL line lacks a key."""
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A chunk's column, or nulls where the chunk has none (a JSONL chunk whose lines all lack the key)."""
    return frame[name] if name in frame.columns else pd.Series([None] * len(frame), dtype=object)


def _check_text(path: Path, name: str, cells: pd.Series, first_row: int = 0) -> None:
    """A text column holds strings (or lists of strings); a number there is a wrong column, not a caption."""
    ok = cells.map(lambda v: _null(v) or isinstance(v, str) or (isinstance(v, (list, tuple, np.ndarray))
                                                                   and all(isinstance(t, str) for t in v)))
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        value = cells.iloc[row]
        shown = value.item() if isinstance(value, np.generic) else value
        raise BridgeError(f"{path}: column {name!r} must hold text, row {first_row + row + 1} holds "
                          f"{type(value).__name__} {shown!r}")


def _strings(values: pd.Series) -> np.ndarray:
    """Cells as strings, lists joined with ``|`` (multi-label), null as ``""``. Each cell is turned into its
    string by itself: a mapped column of ints and nulls would be re-typed as floats (``1`` read ``"1.0"``)."""
    as_text = values.map(lambda v: "" if _null(v) else "|".join(map(str, v))
                         if isinstance(v, (list, tuple, np.ndarray)) else str(v))
    return as_text.to_numpy(dtype=str)


def _texts(cells: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A chunk's text cells exploded: (row of each text, its index among its row's texts, whether the row
    held a list, the texts). Null texts are dropped; an empty string stays (extraction's ``on_error``)."""
    cells = cells.reset_index(drop=True)  # positions in the chunk (a CSV chunk's index runs on from the last)
    exploded = cells.explode()  # list cells -> one row each; scalars stay
    keep = exploded.notna().to_numpy()
    row = exploded.index.to_numpy()[keep]
    listed = cells.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).to_numpy()[row]
    k = pd.Series(row).groupby(row).cumcount().to_numpy().astype(str)
    return row, k, listed, exploded.to_numpy(dtype=object)[keep].astype(str).astype(object)


def _is_embedded(value: Any) -> bool:
    """Hugging Face's ``{"bytes", "path"}`` structs or raw bytes: the media themselves, not a path."""
    return isinstance(value, (bytes, dict))


class TableSource(Source):
    """A table streamed in chunks (``Chunks``), holding a few bytes per row, not the rows.

    A first pass reads every chunk once to check what must hold across the
    whole table: ids unique (hashed, ``first_duplicate``), text cells of text
    type, which image or audio paths occur first (an image listed on several
    rows is one row, with its first row's id), the labels (for class
    prompts). Each modality's rows are then derived from one chunk at a time
    when extraction reaches them (``PartedRows``): id, label, group (the
    media path, else the id) and split (a split column, the Hugging Face file
    name, else the seeded per-group draw, which depends on the group's name
    alone) are all functions of a row, so every modality's rows agree on them
    without holding them. Path-media rows (paths, not the images) are kept
    from the first pass; embedded bytes and texts are read again.
    """

    def __init__(self, name: str, opts: TableOptions, class_prompts: list[str],
                 frames: Frames | None = None) -> None:
        """``frames``: chunks another reader produces (a ``save_to_disk`` dataset), in place of reading ``path``."""
        self.name, self._opts, self._prompts = name, opts, class_prompts
        self.path = Path(opts.path)
        self._chunks = Chunks(self.path, opts.format, frames)
        self._embedded_media: dict[str, bool] = {}
        self._file_splits = True  # every row's file name gives its split (Hugging Face's train-* / test-*)
        sizes: list[int] = []
        text_counts: list[int] = []
        present: dict[str, list[int]] = {}
        labels: set[str] = set()
        media: dict[str, list[tuple[Rows, np.ndarray]]] = {}  # first-seen path rows, and their file splits
        seen: dict[str, np.ndarray] = {}
        label_kinds: dict[str, tuple[int, Any]] = {}
        id_hashes = []
        self._cols = self._resolve_columns(name, self._chunks.columns(), opts)
        for start, chunk in self._chunks:
            sizes.append(len(chunk))
            self._file_splits &= "__file_split__" in chunk.columns and bool((chunk["__file_split__"] != "").all())
            for field in MEDIA:
                if field in self._cols:
                    first = next((v for v in _column(chunk, self._cols[field]) if not _null(v)), None)
                    if first is not None:
                        self._embedded_media.setdefault(field, _is_embedded(first))
            if "text" in self._cols:  # counted now; a cell that is not text is named when the texts are read
                text_counts.append(len(_texts(_column(chunk, self._cols["text"]))[0]))
            meta = self._chunk_meta(chunk, start, split=False)
            labels.update(np.unique(meta["label"]).tolist())
            if "split" in meta:
                check_values([], np.unique(meta["split"]).tolist(), f"{self.path}: column {self._cols['split']!r}")
            if "label" in self._cols:
                label_kinds = self._label_kinds(_column(chunk, self._cols["label"]), start, label_kinds)
            if "id" in self._cols:
                id_hashes.append(name_hash(meta["id"]))
            for field in (m for m in MEDIA if m in self._cols):
                keys, has = meta[f"{field}:key"], meta[f"{field}:present"]
                present.setdefault(field, []).append(int(has.sum()))
                if self._embedded_media.get(field):
                    continue
                row = np.flatnonzero(has)
                _, first = np.unique(keys[row], return_index=True)
                row = row[np.sort(first)]
                earlier = seen.get(field, np.array([], dtype=str))
                row = row[~np.isin(keys[row], earlier)]
                seen[field] = np.union1d(earlier, keys[row])
                given = meta["split"][row] if "split" in meta else \
                    chunk["__file_split__"].to_numpy(dtype=str)[row] if "__file_split__" in chunk.columns else \
                    np.full(len(row), "")
                media.setdefault(field, []).append((Rows(field, meta["id"][row], keys[row], meta["label"][row],
                                                         given, meta["group"][row]), given))
        self._bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._text_counts = text_counts
        self._present = present
        self._media = {}
        for field, parts in media.items():
            items = concat_rows([r for r, _ in parts])
            if "split" not in self._cols and not self._file_splits:  # the table-wide rule, known only now
                items.splits = assign_splits(items.groups, opts.test_fraction, opts.seed)
            self._media[field] = items
        check_values(labels, [], f"{self.path}: column {self._cols.get('label', 'label')!r}")
        self._labels = np.asarray(sorted(labels), dtype=str) if labels else np.array([""], dtype=str)
        if id_hashes:  # ids whose hashes collide are compared as strings, reading the chunks again
            found = first_duplicate(lambda: ((k, self._chunk_ids(self._chunks.chunk(k), int(self._bounds[k])))
                                             for k in range(len(sizes))), np.concatenate(id_hashes))
            if found is not None:
                raise BridgeError(f"{self.path}: column {self._cols['id']!r} has duplicate ids ({found[0]!r})")

    def _label_kinds(self, cells: pd.Series, start: int, kinds: dict[str, tuple[int, Any]]
                     ) -> dict[str, tuple[int, Any]]:
        """Refuse a label column holding numbers in some rows and names in others (one Parquet file of ids,
        another of names: ``3`` and ``"cat"`` would be two classes of one). ``kinds``: first row of each.
        The chunk's kind is pandas' inferred dtype (no loop over rows); rows are looked at only to name them."""
        inferred = pd.api.types.infer_dtype(cells, skipna=True)
        if inferred == "empty":
            return kinds
        kind = "number" if inferred in ("integer", "floating", "mixed-integer-float", "decimal") else \
            "text" if inferred == "string" else None
        if kind is not None:
            given = np.flatnonzero(cells.notna().to_numpy())
            if kind not in kinds and len(given):
                value = cells.iloc[int(given[0])]
                kinds[kind] = (start + int(given[0]) + 1, value.item() if isinstance(value, np.generic) else value)
        else:  # kinds mixed within the chunk: name the first row of each
            for i, v in enumerate(cells.tolist()):
                if not _null(v):
                    own = "text" if isinstance(v, str) else "number" if isinstance(v, (int, float, np.number)) \
                        else type(v).__name__
                    kinds.setdefault(own, (start + i + 1, v))
        if len(kinds) > 1:
            (ka, (ra, va)), (kb, (rb, vb)) = sorted(kinds.items(), key=lambda item: item[1][0])[:2]
            raise BridgeError(f"{self.path}: column {self._cols['label']!r} holds {ka} labels (row {ra}: {va!r}) "
                              f"and {kb} labels (row {rb}: {vb!r}); give every row the same kind of label")
        return kinds

    def _resolve_columns(self, name: str, present: list[str], opts: TableOptions) -> dict[str, str]:
        explicit = opts.columns.model_fields_set
        cols: dict[str, str] = {}
        for field in Columns.model_fields:
            column = getattr(opts.columns, field)
            if column in present:
                cols[field] = column
            elif field in explicit:
                raise BridgeError(f"{self.path}: no column {column!r} (datasets.{name}.options.columns.{field}); "
                                  f"columns: {', '.join(map(str, present))}")
        if not {"text", *MEDIA} & set(cols):
            raise BridgeError(f"{self.path}: no text, image or audio column (looked for "
                              f"{opts.columns.text!r}, {opts.columns.image!r}, {opts.columns.audio!r}); "
                              f"set datasets.{name}.options.columns")
        return cols

    def _chunk_ids(self, chunk: pd.DataFrame, start: int) -> np.ndarray:
        if "id" in self._cols:
            return _strings(_column(chunk, self._cols["id"]))
        return np.char.add("row-", np.arange(start, start + len(chunk)).astype(str))

    def _chunk_meta(self, chunk: pd.DataFrame, start: int, split: bool = True) -> dict[str, np.ndarray]:
        """A chunk's per-row columns: id, label, group, each medium's key and presence, and (``split``) the
        split; without ``split``, only a split column's values (the table-wide rule is known after a pass)."""
        n = len(chunk)
        meta = {"id": self._chunk_ids(chunk, start)}
        meta["label"] = _strings(_column(chunk, self._cols["label"])) if "label" in self._cols else np.full(n, "")
        for field in MEDIA:
            if field in self._cols:
                meta[f"{field}:key"], meta[f"{field}:present"] = self._media_key(field, _column(chunk, self._cols[field]))
        key = next((meta[f"{m}:key"] for m in MEDIA if m in self._cols), np.full(n, ""))
        meta["group"] = _strings(_column(chunk, self._cols["group"])) if "group" in self._cols else \
            np.where(key != "", key, meta["id"])
        if "split" in self._cols:
            meta["split"] = _strings(_column(chunk, self._cols["split"]))
        elif not split:
            pass
        elif self._file_splits:
            meta["split"] = chunk["__file_split__"].to_numpy(dtype=str)
        else:  # a function of the group's name alone: the same in any chunk
            meta["split"] = assign_splits(meta["group"], self._opts.test_fraction, self._opts.seed)
        return meta

    def _chunk(self, k: int) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
        """Chunk ``k`` read again, with its per-row columns."""
        chunk = self._chunks.chunk(k)
        return self._chunk_meta(chunk, int(self._bounds[k])), chunk

    def _media_key(self, modality: str, cells: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(what names each row's item: its path, or an embedded item's struct path, else ""; whether the
        row has an item). Embedded media are an item per row with bytes, named or not."""
        if not self._embedded_media.get(modality):
            keys = _strings(cells)
            return keys, keys != ""
        keys = cells.map(lambda v: (v.get("path") or "") if isinstance(v, dict) else "").to_numpy(dtype=str)
        data = cells.map(lambda v: v.get("bytes") if isinstance(v, dict) else v)
        has = data.notna().to_numpy()
        hollow = np.flatnonzero(~has & (keys != ""))
        if len(hollow):  # a path with no bytes: the item exists, its bytes were not embedded
            raise BridgeError(f"{self.path}: column {self._cols[modality]!r}: an entry holds the path "
                              f"{str(keys[hollow[0]])!r} but no bytes ({len(hollow)} in this chunk); embed the bytes "
                              "(datasets' Image / Audio feature) or give the paths as a string column")
        return keys, has

    def modalities(self) -> list[str]:
        found = [m for m in ("text", *MEDIA) if m in self._cols]
        return found if "text" in found or not self._prompts else ["text", *found]

    def rows(self, modality: str) -> Rows | PartedRows:
        if modality not in self.modalities():
            raise BridgeError(f"dataset {self.name!r} ({self.path}) has no {modality!r} column")
        if modality in MEDIA:
            return self._media_rows(modality)
        prompts = prompt_rows(self._labels, self._prompts, self._opts.class_names) if self._prompts else None
        counts = list(self._text_counts) if "text" in self._cols else []
        chunks = len(counts)

        def read(k: int) -> Rows:
            if k == chunks:
                return prompts
            meta, chunk = self._chunk(k)
            cells = _column(chunk, self._cols["text"])
            _check_text(self.path, self._cols["text"], cells, int(self._bounds[k]))
            row, index, listed, texts = _texts(cells)
            ids = np.where(listed, np.char.add(np.char.add(meta["id"][row], "#"), index), meta["id"][row])
            return Rows("text", ids.astype(str), texts, meta["label"][row], meta["split"][row], meta["group"][row])

        return PartedRows("text", np.asarray(counts + ([len(prompts)] if prompts else []), dtype=np.int64), read)

    def _media_rows(self, modality: str) -> Rows | PartedRows:
        column = self._cols[modality]
        if not self._embedded_media.get(modality):
            items = self._media[modality]
            root = Path(self._opts.root) if self._opts.root else self.path.parent
            rel = items.payload.astype(str)
            absolute = np.char.startswith(rel, "/")
            prefix = "" if root == Path(".") else f"{root.as_posix()}/"
            paths = np.where(absolute, rel, np.char.add(prefix, rel)).astype(object)
            return Rows(modality, items.ids, paths, items.labels, items.splits, items.groups)

        def read(k: int) -> Rows:  # one item per row, the payload its bytes, read chunk by chunk
            meta, chunk = self._chunk(k)
            data = _column(chunk, column).map(lambda v: v.get("bytes") if isinstance(v, dict) else v)
            data = data.to_numpy(dtype=object)
            row = np.flatnonzero(meta[f"{modality}:present"])
            bad = [r for r in row if not isinstance(data[r], bytes)]
            if bad:
                raise BridgeError(f"{self.path}: column {column!r} row {self._bounds[k] + bad[0] + 1}: expected "
                                  f"image or audio bytes, got {type(data[bad[0]]).__name__}")
            return Rows(modality, meta["id"][row], data[row], meta["label"][row], meta["split"][row],
                        meta["group"][row])

        return PartedRows(modality, np.asarray(self._present[modality], dtype=np.int64), read)


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> TableSource:
    return TableSource(name, parse_source_options(TableOptions, options, name), class_prompts)
