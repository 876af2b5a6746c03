"""Table sources: CSV/TSV/JSONL/Parquet, configurable columns, captions tied to media by group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embridge.core.errors import BridgeError
from embridge.sources.registry import load_source

CAPTIONS = pd.DataFrame({
    "img": ["a.png", "a.png", "b.png", "b.png", "c.png"],
    "caption": ["a cat", "a small cat", "a dog", "a big dog", "a bird"],
    "cls": ["cat", "cat", "dog", "dog", "bird"],
})


def write(df: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_formats_columns_groups_and_splits(tmp_path: Path, suffix: str) -> None:
    path = write(CAPTIONS, tmp_path / f"caps{suffix}")
    source = load_source("caps", "table", {"path": str(path), "test_fraction": 0.5,
                                           "columns": {"image": "img", "text": "caption", "label": "cls"}},
                         ["a photo of a {}"])
    assert source.modalities() == ["text", "image"]
    images, texts = source.rows("image").take(slice(None)), source.rows("text").take(slice(None))
    assert list(images.ids) == ["row-0", "row-2", "row-4"]  # one row per image, its first table row's id
    assert list(images.payload) == [f"{tmp_path.as_posix()}/{n}" for n in ("a.png", "b.png", "c.png")]
    assert list(images.groups) == ["a.png", "b.png", "c.png"]
    captions = texts.splits != "prompt"
    assert list(texts.groups[captions]) == ["a.png", "a.png", "b.png", "b.png", "c.png"]
    # an image and its captions share a split, whatever the split is
    split_of = dict(zip(images.groups, images.splits))
    assert all(split_of[g] == s for g, s in zip(texts.groups[captions], texts.splits[captions]))
    assert sorted(texts.payload[~captions]) == ["a photo of a bird", "a photo of a cat", "a photo of a dog"]
    assert list(texts.labels[~captions]) == ["bird", "cat", "dog"]


def test_jsonl_lists_of_captions_multilabels_and_explicit_columns(tmp_path: Path) -> None:
    rows = [{"key": "x1", "clip": "/abs/dog.wav", "texts": ["a dog", "barking"], "tags": ["dog", "loud"],
             "part": "train"},
            {"key": "x2", "clip": "cat.wav", "texts": ["a cat"], "tags": ["cat"], "part": "test"}]
    path = tmp_path / "sounds.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    source = load_source("s", "table", {"path": str(path), "columns": {
        "id": "key", "audio": "clip", "text": "texts", "label": "tags", "split": "part"}}, [])
    texts, audio = source.rows("text").take(slice(None)), source.rows("audio").take(slice(None))
    assert list(texts.ids) == ["x1#0", "x1#1", "x2#0"] and list(texts.payload) == ["a dog", "barking", "a cat"]
    assert list(texts.labels) == ["dog|loud", "dog|loud", "cat"] and list(texts.splits) == ["train", "train", "test"]
    assert list(audio.payload) == ["/abs/dog.wav", f"{tmp_path.as_posix()}/cat.wav"]
    assert list(audio.groups) == ["/abs/dog.wav", "cat.wav"] == list(texts.groups[[0, 2]])


def test_splits_are_seeded_and_per_group(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"caption {i}" for i in range(200)], "group": np.repeat(np.arange(50), 4)})
    path = write(df, tmp_path / "t.csv")
    a = load_source("t", "table", {"path": str(path), "test_fraction": 0.3, "seed": 1}, []).rows("text").take(slice(None))
    b = load_source("t", "table", {"path": str(path), "test_fraction": 0.3, "seed": 1}, []).rows("text").take(slice(None))
    assert (a.splits == b.splits).all() and (a.splits == "test").sum() == 15 * 4
    assert all(len(set(a.splits[a.groups == g])) == 1 for g in np.unique(a.groups))


def test_empty_text_cell_stays_a_row(tmp_path: Path) -> None:
    """Extraction's on_error policy, not the source, decides what happens to an empty caption."""
    path = tmp_path / "t.csv"
    path.write_text("id,text\na,hello\nb,\nc,bye\n")
    texts = load_source("t", "table", {"path": str(path)}, []).rows("text").take(slice(None))
    assert list(texts.ids) == ["a", "b", "c"] and list(texts.payload) == ["hello", "", "bye"]


@pytest.mark.parametrize("options, message", [
    ({"columns": {"text": "captions"}}, "no column 'captions' (datasets.t.options.columns.text); columns: id, text"),
    ({"columns": {"txt": "text"}}, "datasets.t.options.columns.txt: unknown key (did you mean 'text'?)"),
    ({"pth": "x"}, "datasets.t.options.pth: unknown key (did you mean 'path'?)"),
    ({"format": "xlsx"}, "datasets.t.options.format: expected one of 'csv', 'tsv', 'jsonl' or 'parquet', got 'xlsx'"),
])
def test_config_errors_name_the_key(tmp_path: Path, options: dict, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,text\na,hello\n")
    with pytest.raises(BridgeError, match=None) as info:
        load_source("t", "table", {"path": str(path), **options}, [])
    assert message in str(info.value)


def test_missing_and_unreadable_tables(tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match="nope.csv: table file not found"):
        load_source("t", "table", {"path": str(tmp_path / "nope.csv")}, [])
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(BridgeError, match=r"bad.parquet: cannot read as parquet"):
        load_source("t", "table", {"path": str(tmp_path / "bad.parquet")}, [])
    (tmp_path / "t.csv").write_text("id,text\na,x\na,y\n")
    with pytest.raises(BridgeError, match="column 'id' has duplicate ids"):
        load_source("t", "table", {"path": str(tmp_path / "t.csv")}, [])
    with pytest.raises(BridgeError, match=r"unknown source 'tabel' \(did you mean 'table'\?\)"):
        load_source("t", "tabel", {}, [])


def test_parquet_folder_in_the_hugging_face_layout(tmp_path: Path) -> None:
    """A folder of ``<split>-0000k-of-0000n.parquet`` files with an Image column (``{"bytes", "path"}``
    structs, as ``datasets`` writes them): splits from the file names, each image's bytes its payload."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    from embridge.encoders.preprocess import ImagePreprocess

    def png(value: int) -> bytes:
        out = io.BytesIO()
        Image.fromarray(np.full((6, 6, 3), value, dtype=np.uint8)).save(out, format="PNG")
        return out.getvalue()

    data = tmp_path / "hf" / "data"
    data.mkdir(parents=True)
    for split, start in (("train", 0), ("test", 4)):
        for part in range(2):
            ks = range(start + 2 * part, start + 2 * part + 2) if split == "train" else range(start + part, start + part + 1)
            pq.write_table(pa.table({
                "image": [{"bytes": png(10 * k), "path": f"img{k}.png"} for k in ks],
                "text": [f"caption {k}" for k in ks], "label": [k % 2 for k in ks]}),
                data / f"{split}-{part:05d}-of-00002.parquet")
    source = load_source("hf", "table", {"path": str(tmp_path / "hf")}, [])
    images, texts = source.rows("image").take(slice(None)), source.rows("text").take(slice(None))
    assert list(images.splits) == ["test", "test", "train", "train", "train", "train"]  # sorted file order
    assert list(images.groups) == ["img4.png", "img5.png", "img0.png", "img1.png", "img2.png", "img3.png"]
    assert list(texts.groups) == list(images.groups) and list(texts.payload)[2] == "caption 0"
    assert isinstance(images.payload[0], bytes)
    prepared = ImagePreprocess(size=(4, 4))(list(images.payload))
    assert prepared.ok.all() and prepared.data[2].max() == 0 and prepared.data[3].min() == 10
    assert source.rows("image").take(slice(None)).fingerprint() == images.fingerprint()
    glob_source = load_source("hf", "table", {"path": str(data / "train-*.parquet")}, [])
    assert len(glob_source.rows("image").take(slice(None))) == 4
    pq.write_table(pa.table({"image": [{"bytes": None, "path": "x"}, {"bytes": None, "path": "y"}],
                             "other": [1, 2]}), data / "train-00009-of-00010.parquet")
    with pytest.raises(BridgeError, match="Parquet files with different columns"):
        load_source("hf", "table", {"path": str(tmp_path / "hf")}, [])


def test_a_save_to_disk_dataset_extracts_offline(tmp_path: Path, monkeypatch) -> None:
    """A DatasetDict written by ``datasets.save_to_disk`` (Image, ClassLabel, caption columns) is read with pyarrow:
    splits from the dict, class names for labels, image bytes through the encoder's preprocessing (streamed
    3 rows at a time, so image bytes come from two chunks)."""
    datasets = pytest.importorskip("datasets")
    from embridge.sources import table

    monkeypatch.setattr(table, "CHUNK_ROWS", 3)
    import io

    from bridge_project import cli_with_project, pixel_project
    from PIL import Image

    from embridge.core.config import load_params
    from embridge.core.layout import Layout
    from embridge.store.loading import load_vectors

    def png(value: int) -> bytes:
        out = io.BytesIO()
        Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(out, format="PNG")
        return out.getvalue()

    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["cat", "dog"])})
    splits = {"train": [(10, "a cat", 0), (200, "a dog", 1), (30, "another cat", 0)], "test": [(220, "a dog", 1)]}
    datasets.DatasetDict({split: datasets.Dataset.from_dict(
        {"image": [{"bytes": png(v), "path": None} for v, _, _ in rows], "caption": [c for _, c, _ in rows],
         "label": [y for _, _, y in rows]}, features=features) for split, rows in splits.items()}).save_to_disk(
        str(tmp_path / "saved"))
    source = load_source("h", "hf", {"path": str(tmp_path / "saved"), "columns": {"text": "caption"}}, [])
    images, texts = source.rows("image").take(slice(None)), source.rows("text").take(slice(None))
    assert list(images.labels) == ["cat", "dog", "cat", "dog"] and list(images.splits) == ["train"] * 3 + ["test"]
    assert list(texts.payload) == ["a cat", "a dog", "another cat", "a dog"] and list(texts.groups) == list(images.groups)
    project = pixel_project(tmp_path / "project", {"source": "hf", "options": {
        "path": str(tmp_path / "saved"), "columns": {"text": "caption"}}}, dtype="float32")
    code, err = cli_with_project(project, "extract")
    assert code == 0, err
    got = load_vectors(Layout(project).embeddings(load_params(project / "params.yaml").extract.sets["d-pix-image"].path))
    brightness = got.vectors[:, 0] / np.linalg.norm(got.vectors, axis=1)  # flat images: every coordinate equal
    assert np.allclose(brightness, 1 / np.sqrt(12), atol=1e-6) and list(got.labels) == ["cat", "dog", "cat", "dog"]
    with pytest.raises(BridgeError, match=r"state.json: missing \(not a folder written by datasets.save_to_disk\)"):
        load_source("h", "hf", {"path": str(tmp_path / "project")}, [])


def test_a_hub_id_reads_the_local_hub_cache(tmp_path: Path, monkeypatch) -> None:
    """``hf`` with ``id`` reads the Hub cache's snapshot (refs/main -> snapshots/<commit>, files linked to
    blobs/, as huggingface_hub lays it out): the Hub's Parquet files by split through the table source. A
    dataset or revision with no local copy is one line; path and id together are refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = tmp_path / "hub" / "datasets--someone--digits"
    snapshot = repo / "snapshots" / "abc123"
    (repo / "blobs").mkdir(parents=True)
    for split, texts in (("train", ["a 1", "a 2", "a 3"]), ("test", ["a 4"])):
        blob = repo / "blobs" / f"blob-{split}"
        pq.write_table(pa.table({"text": texts, "label": [t[-1] for t in texts]}), blob)
        link = snapshot / "data" / f"{split}-00000-of-00001.parquet"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    texts = load_source("h", "hf", {"id": "someone/digits"}, []).rows("text").take(slice(None))
    assert list(texts.payload) == ["a 4", "a 1", "a 2", "a 3"]  # files in name order: test-*, then train-*
    assert dict(zip(texts.payload, texts.splits, strict=True)) == {"a 1": "train", "a 2": "train", "a 3": "train",
                                                                    "a 4": "test"}
    assert list(load_source("h", "hf", {"id": "someone/digits", "revision": "abc123"}, []).rows("text").take(slice(None)).labels) == \
        list(texts.labels)
    with pytest.raises(BridgeError, match=r"dataset 'someone/other': no local copy in the Hugging Face cache"):
        load_source("h", "hf", {"id": "someone/other"}, [])
    with pytest.raises(BridgeError, match=r"revision 'v2' is not in .*snapshots \(have: abc123\)"):
        load_source("h", "hf", {"id": "someone/digits", "revision": "v2"}, [])
    with pytest.raises(BridgeError, match=r"give exactly one of path .* and id"):
        load_source("h", "hf", {"id": "someone/digits", "path": str(tmp_path)}, [])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_table_streams_in_chunks_with_the_rows_it_gives_whole(tmp_path: Path, suffix: str, monkeypatch) -> None:
    """Read 2 rows at a time, a table gives the rows it gives read whole: an image listed on rows in
    different chunks is one row (the first row's id), list captions keep their ids across chunk bounds,
    splits and groups agree, prompts come last. Its texts are re-read chunk by chunk (PartedRows)."""
    from embridge.sources import table

    frame = pd.DataFrame({"id": [f"r{i}" for i in range(7)],
                          "img": ["a.png", "b.png", "a.png", "c.png", "", "b.png", "d.png"],
                          "caption": ["a cat", "a dog", "another cat", "a bird", "a note", "dog again", "a fish"],
                          "cls": ["cat", "dog", "cat", "bird", "", "dog", "fish"]})
    if suffix == ".jsonl":  # list cells, and a null caption
        frame["caption"] = [["a cat", "the cat"], "a dog", None, ["a bird"], "a note", [], "a fish"]
    path = write(frame, tmp_path / f"t{suffix}")
    options = {"path": str(path), "columns": {"image": "img", "text": "caption", "label": "cls"}}

    def read(chunk: int) -> tuple:
        monkeypatch.setattr(table, "CHUNK_ROWS", chunk)
        source = load_source("t", "table", options, ["a photo of a {}"])
        texts, images = source.rows("text"), source.rows("image")
        return texts, texts.take(slice(None)), images.take(slice(None))

    parted, texts, images = read(2)
    _, texts_whole, images_whole = read(1000)
    assert len(parted.counts) == 5  # four chunks of the file, then the prompts
    for got, want in ((texts, texts_whole), (images, images_whole)):
        for field in ("ids", "labels", "splits", "groups"):
            assert getattr(got, field).tolist() == getattr(want, field).tolist()
        assert list(got.payload) == list(want.payload)
    assert images.ids.tolist() == ["r0", "r1", "r3", "r6"]
    assert (texts.take(slice(len(texts) - 4, len(texts))).splits == "prompt").all()
    if suffix == ".jsonl":
        assert texts.ids.tolist()[:5] == ["r0#0", "r0#1", "r1", "r3#0", "r4"]
    by_id = dict(zip(texts.ids.tolist(), texts.groups.tolist(), strict=True))
    assert by_id["r1"] == "b.png" and by_id.get("r5", "b.png") == "b.png"  # b.png's captions share its group


def test_a_bad_cell_in_a_later_chunk_is_named_by_its_row_in_the_file(tmp_path: Path, monkeypatch) -> None:
    from embridge.sources import table

    monkeypatch.setattr(table, "CHUNK_ROWS", 2)
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "c", "text": "z"}\n'
                    '{"id": "d", "text": 5}\n')
    with pytest.raises(BridgeError, match=r"t.jsonl: column 'text' must hold text, row 4 holds int 5"):
        load_source("t", "table", {"path": str(path)}, []).rows("text").take(slice(None))
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "c", "text": \n')
    with pytest.raises(BridgeError, match=r"t.jsonl: line 3: not valid JSON"):
        load_source("t", "table", {"path": str(path)}, [])
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "a", "text": "z"}\n')
    with pytest.raises(BridgeError, match=r"column 'id' has duplicate ids"):
        load_source("t", "table", {"path": str(path)}, [])
    # a key that only a later chunk's lines have is still a column (the labels, here)
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "c", "text": "z", "label": "q"}\n')
    texts = load_source("t", "table", {"path": str(path)}, ["a {}"]).rows("text").take(slice(None))
    assert texts.labels.tolist() == ["", "", "q", "q"] and texts.payload[-1] == "a q"


def test_an_empty_table_has_its_columns_and_no_rows(tmp_path: Path) -> None:
    """A 0-row Parquet file or a header-only CSV has columns (from its schema or header) and no rows; a JSONL
    file with no lines has no columns at all, which is the one line for a table with no text column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())}),
                   tmp_path / "empty.parquet")
    (tmp_path / "empty.csv").write_text("text,label\n")
    for name in ("empty.parquet", "empty.csv"):
        source = load_source("e", "table", {"path": str(tmp_path / name)}, ["a {}"])
        assert source.modalities() == ["text"] and len(source.rows("text").take(slice(None))) == 0
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(BridgeError, match=r"empty.jsonl: no text, image or audio column"):
        load_source("e", "table", {"path": str(tmp_path / "empty.jsonl")}, [])


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_int_cells_next_to_nulls_read_alike_in_any_chunking(tmp_path: Path, suffix: str, monkeypatch) -> None:
    """An int label, id or group column with a null reads as "1", not "1.0", in every chunk: pandas types a
    column per chunk, so a chunk holding the null would have read its ints as floats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embridge.sources import table

    path = tmp_path / f"t{suffix}"
    labels = [1, 2, None, 3, 4, 5]
    if suffix == ".jsonl":  # the null as a missing key
        path.write_text("".join(json_line({"id": i, "text": f"t{i}", **({} if y is None else {"label": y})})
                                for i, y in enumerate(labels)))
    else:
        pq.write_table(pa.table({"id": pa.array(range(6), pa.int64()), "text": [f"t{i}" for i in range(6)],
                                 "label": pa.array(labels, pa.int64())}), path)
    got = []
    for chunk in (1, 2, 3, 1000):
        monkeypatch.setattr(table, "CHUNK_ROWS", chunk)
        texts = load_source("t", "table", {"path": str(path)}, []).rows("text").take(slice(None))
        got.append((texts.ids.tolist(), texts.labels.tolist()))
    assert got[0] == (["0", "1", "2", "3", "4", "5"], ["1", "2", "", "3", "4", "5"])
    assert all(g == got[0] for g in got)


def json_line(record: dict) -> str:
    import json

    return json.dumps(record) + "\n"


def test_a_bad_text_cell_is_raised_by_the_texts_alone(tmp_path: Path, monkeypatch) -> None:
    """A number in the text column stops the texts (named by its row in the file), not the table's image
    rows; a line without the text key is a null text in any chunking (NaN or None alike)."""
    from embridge.sources import table

    path = tmp_path / "t.jsonl"
    path.write_text(json_line({"id": "a", "image": "a.png", "text": "x"}) + json_line({"id": "b", "image": "b.png"})
                    + json_line({"id": "c", "image": "c.png", "text": 7}))
    for chunk in (1, 2, 1000):
        monkeypatch.setattr(table, "CHUNK_ROWS", chunk)
        source = load_source("t", "table", {"path": str(path)}, [])
        assert source.rows("image").take(slice(None)).ids.tolist() == ["a", "b", "c"]
        texts = source.rows("text")
        assert len(texts) == 2  # b's absent key: no text
        if chunk == 1:  # the texts before the bad cell's chunk still read
            assert texts.take(slice(0, 1)).payload.tolist() == ["x"]
        with pytest.raises(BridgeError, match=r"t.jsonl: column 'text' must hold text, row 3 holds int 7"):
            texts.take(slice(None))


def test_a_column_only_a_later_split_has_is_a_column(tmp_path: Path) -> None:
    """A DatasetDict whose ``label`` only its test split carries (an unlabelled train split, a labelled
    test split: a common shape) keeps the labels; the train rows have none."""
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a", "b"]}),
                          "test": datasets.Dataset.from_dict({"text": ["c"], "label": ["cat"]})}).save_to_disk(
        str(tmp_path / "saved"))
    texts = load_source("h", "hf", {"path": str(tmp_path / "saved")}, []).rows("text").take(slice(None))
    assert list(texts.payload) == ["a", "b", "c"] and list(texts.labels) == ["", "", "cat"]
    assert list(texts.splits) == ["train", "train", "test"]
