"""Complete or refused, and no data value passing for the tool's own: every source reads its input to the end,
refuses what it would silently drop or merge, and names the file, row and value in one line."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embridge.core.errors import BridgeError
from embridge.sources.registry import load_source


def _tar(path: Path, members: list[tuple[str, bytes]], end: bool = True) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    if not end:  # cut exactly after the last member's data: no end-of-archive block
        size = sum(512 + -(-len(d) // 512) * 512 for _, d in members)
        data = data[:size]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _shard(tmp_path: Path, extra: list[tuple[str, bytes]] = (), end: bool = True) -> Path:
    members = [(f"{k}.png", _png()) for k in range(3)] + [(f"{k}.cls", b"cat") for k in range(3)] + list(extra)
    return _tar(tmp_path / "shards" / "a.tar", members, end)


def _wds(tmp_path: Path):
    return load_source("w", "webdataset", {"path": str(tmp_path / "shards")}, ["a photo of a {}"])


def test_a_complete_tar_reads(tmp_path: Path) -> None:
    _shard(tmp_path)
    assert len(_wds(tmp_path).rows("image")) == 3


def test_a_tar_cut_at_a_member_boundary_is_refused(tmp_path: Path) -> None:
    _shard(tmp_path, end=False)
    with pytest.raises(BridgeError, match=r"a\.tar: ends without tar's end-of-archive block"):
        _wds(tmp_path)


@pytest.mark.parametrize("extra, kind", [([("1.png", b"x")], "media"),
                                         ([("1.jpg", b"x")], "media"), ([("2.cls", b"dog")], "cls")])
def test_a_key_given_twice_names_both_members(tmp_path: Path, extra, kind: str) -> None:
    _shard(tmp_path, extra)
    with pytest.raises(BridgeError, match=rf"key '\d' has two {kind} members \(\d\.\w+ and \d\.\w+\)"):
        _wds(tmp_path)


def test_a_compressed_shard_beside_the_tars_is_named(tmp_path: Path) -> None:
    _shard(tmp_path)
    (tmp_path / "shards" / "b.tar.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(BridgeError, match=r"b\.tar\.gz: a \.tar file in a form this source does not read"):
        _wds(tmp_path)


def test_a_json_null_label_is_no_label_not_the_class_none(tmp_path: Path) -> None:
    _tar(tmp_path / "shards" / "a.tar", [("0.png", _png()), ("0.json", json.dumps({"label": None}).encode()),
                                         ("1.png", _png()), ("1.json", b'{"label": "cat"}')])
    labels = load_source("w", "webdataset", {"path": str(tmp_path / "shards")}, []).rows("image").labels
    assert sorted(labels.tolist()) == ["", "cat"]


def _table(tmp_path: Path, frames: dict[str, pd.DataFrame], **options):
    folder = tmp_path / "table"
    folder.mkdir(exist_ok=True)
    for name, frame in frames.items():
        frame.to_parquet(folder / name)
    source = load_source("t", "table", {"path": str(folder), **options}, ["a photo of a {}"])
    return source, source.rows("text").take(slice(None))


def test_a_split_named_prompt_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match=r"split 'prompt' is reserved for the class-prompt rows"):
        _table(tmp_path, {"x.parquet": pd.DataFrame({"text": ["a", "b"], "label": ["c", "d"],
                                                     "split": ["train", "prompt"]})})


def test_labels_equal_after_normalisation_are_refused(tmp_path: Path) -> None:
    cafe_nfd = "cafe\u0301"
    with pytest.raises(BridgeError, match=r"labels 'cafe\\u0301' and 'caf\\xe9' differ only in Unicode form or spaces"):
        _table(tmp_path, {"x.parquet": pd.DataFrame({"text": ["a", "b"], "label": ["café", cafe_nfd]})})
    with pytest.raises(BridgeError, match=r"labels 'cat' and 'cat ' differ only"):
        _table(tmp_path, {"x.parquet": pd.DataFrame({"text": ["a", "b"], "label": ["cat", "cat "]})})


def test_integer_labels_in_one_file_and_names_in_another_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match=r"holds number labels \(row 1: 0\) and text labels \(row 3: 'cat'\)"):
        _table(tmp_path, {"train-0.parquet": pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}),
                          "train-1.parquet": pd.DataFrame({"text": ["c"], "label": ["cat"]})})


def test_a_file_without_a_split_in_a_folder_split_by_file_names_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["c", "d"]})
    with pytest.raises(BridgeError, match=r"extra\.parquet: its name gives no split .* while 2 other files"):
        _table(tmp_path, {"train-0.parquet": frame, "test-0.parquet": frame, "extra.parquet": frame})


def test_an_image_entry_with_a_path_but_no_bytes_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"image": [{"bytes": _png(), "path": "a.png"}, {"bytes": None, "path": "b.png"}],
                          "label": ["c", "d"]})
    with pytest.raises(BridgeError, match=r"holds the path 'b\.png' but no bytes"):
        _table(tmp_path, {"x.parquet": frame})


def _saved(tmp_path: Path, labels: list[int]) -> Path:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
    path = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"text": [f"t{i}" for i in range(len(labels))], "label": labels}, features=features)}).save_to_disk(str(path))
    return path


def test_classlabel_minus_one_is_no_label_and_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path, [0, -1, 1])
    with pytest.raises(BridgeError, match=r"row 2: ClassLabel column 'label' holds -1 \(no label"):
        load_source("h", "hf", {"path": str(path)}, []).rows("text").take(slice(None))


def test_an_arrow_file_cut_between_record_batches_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa

    path = _saved(tmp_path, [0, 1, 0, 1])
    arrow = next((path / "train").glob("*.arrow"))
    table = pa.ipc.open_stream(pa.memory_map(str(arrow))).read_all()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2):
            writer.write_batch(batch)
    whole = sink.getvalue().to_pybytes()
    first = pa.BufferOutputStream()
    with pa.ipc.new_stream(first, table.schema) as writer:
        writer.write_batch(table.to_batches(max_chunksize=2)[0])
    arrow.write_bytes(whole[:len(first.getvalue().to_pybytes()) - 8])  # schema + first batch, no end marker
    with pytest.raises(BridgeError, match=r"\.arrow: the Arrow stream has no end-of-stream marker"):
        load_source("h", "hf", {"path": str(path)}, []).rows("text").take(slice(None))


def test_dataset_info_that_is_not_an_object_is_one_line(tmp_path: Path) -> None:
    path = _saved(tmp_path, [0, 1])
    (path / "train" / "dataset_info.json").write_text("[]")
    with pytest.raises(BridgeError, match=r"dataset_info\.json: must hold a JSON object, not a list"):
        load_source("h", "hf", {"path": str(path)}, [])
