"""Every kind of bad item, under both policies, through `bridge extract` with real (tiny) models.

``on_error: fail`` must stop with exit code 2 and one line naming the item;
``on_error: skip`` must write the set without it and record its id and
reason in the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from encoder_fixtures import run_bridge, write_images, write_params, write_wavs

from embridge.store.embedding_set import EmbeddingSet

pytest_plugins = ["encoder_fixtures"]  # the tiny-model fixtures


def corrupt_files(root: Path) -> None:
    """A PNG that is random bytes, a PNG cut in half, a WAV that is text."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "img" / "garbage.png").write_bytes(b"\x89PNG not really an image" * 10)
    whole = (root / "img" / "ok2.png").read_bytes()
    (root / "img" / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (root / "clips").mkdir(parents=True, exist_ok=True)
    (root / "clips" / "garbage.wav").write_text("RIFF? no, just text")


@pytest.fixture
def media(tmp_path: Path) -> Path:
    write_images(tmp_path / "img", {"ok1.png": (200, 10, 10), "ok2.png": (10, 200, 10), "ok3.png": (9, 9, 200)})
    write_wavs(tmp_path / "clips", {"ok1.wav": 440.0, "ok2.wav": 660.0, "ok3.wav": 880.0})
    corrupt_files(tmp_path)
    return tmp_path


#: case -> (column, [cells; the bad one second], encoder fixture, tower, reason fragment)
CASES = {
    "missing image": ("image", ["img/ok1.png", "img/nowhere.png", "img/ok3.png"], "clip_model", "image",
                      "missing image file"),
    "corrupt image": ("image", ["img/ok1.png", "img/garbage.png", "img/ok3.png"], "clip_model", "image",
                      "corrupt image"),
    "truncated image": ("image", ["img/ok1.png", "img/truncated.png", "img/ok3.png"], "clip_model", "image",
                        "corrupt image"),
    "missing audio": ("audio", ["clips/ok1.wav", "clips/nowhere.wav", "clips/ok3.wav"], "clap_model", "audio",
                      "missing audio file"),
    "corrupt audio": ("audio", ["clips/ok1.wav", "clips/garbage.wav", "clips/ok3.wav"], "clap_model", "audio",
                      "corrupt audio"),
    "empty text": ("text", ["a cat", "   ", "a dog"], "st_model", "text", "empty text"),
    "NaN vector": ("text", ["a cat", "poison a dog", "a bird"], "st_poisoned", "text", "non-finite vector"),
}

MODEL = {"clip_model": "clip", "clap_model": "clap", "st_model": "st", "st_poisoned": "st"}


@pytest.mark.parametrize("policy", ["fail", "skip"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_item(case: str, policy: str, media: Path, models_dir: Path, request: pytest.FixtureRequest,
                  monkeypatch, capsys) -> None:
    column, cells, fixture, tower, reason = CASES[case]
    model_dir = request.getfixturevalue(fixture)
    pd.DataFrame({"id": ["good-1", "bad-2", "good-3"], column: cells}).to_csv(media / "items.csv", index=False)
    write_params(media / "params.yaml", {"items": {"source": "table", "options": {"path": "items.csv"}}},
                 {"enc": {"model": f"{MODEL[fixture]}:{model_dir}"}},
                 {"items-enc": {"dataset": "items", "encoder": "enc", "tower": tower}},
                 on_error=policy, batch_size=2)
    code, err = run_bridge(["extract"], media, monkeypatch, capsys)
    out = media / "artifacts/embeddings/items/enc" / tower
    if policy == "fail":
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "row 'bad-2'" in lines[0] and reason in lines[0], err
        assert "extract.sets.items-enc" in lines[0] and "on_error: skip" in lines[0]
        if column != "text":
            assert cells[1].split("/")[1] in lines[0]  # the file is named
        assert not out.exists()
        return
    assert code == 0, err
    eset = EmbeddingSet(out)
    assert list(eset.ids) == ["good-1", "good-3"]
    skipped = eset.manifest["skipped"]
    assert [s["id"] for s in skipped] == ["bad-2"] and reason in skipped[0]["reason"]
    assert json.loads((out / "manifest.json").read_text())["shards"][0]["skipped"] == skipped


def test_wrong_column_unknown_encoder_and_missing_tower(media: Path, st_model: Path, monkeypatch, capsys) -> None:
    """Configuration mistakes are one line naming the file/column, the encoder, or the tower."""
    pd.DataFrame({"caption": ["a cat"]}).to_csv(media / "items.csv", index=False)
    table = {"source": "table", "options": {"path": "items.csv", "columns": {"text": "captions"}}}
    write_params(media / "params.yaml", {"items": table}, {"enc": {"model": f"st:{st_model}"}},
                 {"s": {"dataset": "items", "encoder": "enc", "tower": "text"}})
    code, err = run_bridge(["extract"], media, monkeypatch, capsys)
    assert code == 2 and "items.csv: no column 'captions' (datasets.items.options.columns.text); columns: caption" \
        in err and len(err.strip().splitlines()) == 1

    table["options"]["columns"] = {"text": "caption"}
    write_params(media / "params.yaml", {"items": table}, {"enc": {"model": "st:no-such-org/no-such-model"}},
                 {"s": {"dataset": "items", "encoder": "enc", "tower": "text"}})
    code, err = run_bridge(["extract"], media, monkeypatch, capsys)
    assert code == 2 and "model 'no-such-org/no-such-model': not a local path" in err

    write_params(media / "params.yaml", {"items": table}, {"enc": {"model": f"st:{st_model}"}},
                 {"s": {"dataset": "items", "encoder": "enc", "tower": "image"}})
    code, err = run_bridge(["extract"], media, monkeypatch, capsys)
    assert code == 2 and "has no tower 'image'; towers: ['text']" in err

    write_params(media / "params.yaml", {"items": table}, {"enc": {"model": f"st:{st_model}",
                                                                   "options": {"devcie": "cpu"}}},
                 {"s": {"dataset": "items", "encoder": "enc", "tower": "text"}})
    code, err = run_bridge(["extract"], media, monkeypatch, capsys)
    assert code == 2 and "options.devcie: unknown key (did you mean 'device'?)" in err
