"""Batch preprocessing that runs before a tower's forward pass, often in worker processes.

Everything here is a small frozen dataclass with no model in it, so it
pickles cheaply into a worker process once, and it never raises for one bad
item: a missing or corrupt file, an empty text or an empty clip is reported
as a failed position with a reason, and extraction's ``on_error`` policy
decides whether that stops the run or is recorded as skipped.

Images come out as uint8 ``[n, h, w, 3]`` (a quarter of the bytes of float32
through the worker pipe); the tower normalises them on its device. Audio comes
out as mono float32 at the tower's sample rate, optionally turned into model
features (e.g. CLAP's mel spectrograms) inside the worker.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import gcd
from typing import Any, Protocol

import numpy as np


@dataclass
class Prepared:
    """A preprocessed batch: model input of the good items, and why the others failed."""

    data: Any  # model input for the items where ``ok`` is True, in batch order
    ok: np.ndarray  # bool [n]
    reasons: np.ndarray  # object [n]: "" where ok


class Preprocess(Protocol):
    def __call__(self, payloads: Sequence[Any]) -> Prepared: ...


def _all_ok(data: Any, n: int) -> Prepared:
    return Prepared(data, np.ones(n, dtype=bool), np.full(n, "", dtype=object))


@dataclass(frozen=True)
class Passthrough:
    """Payloads are already model input (vectors of the synthetic world, a user's arrays)."""

    def __call__(self, payloads: Sequence[Any]) -> Prepared:
        return _all_ok(payloads, len(payloads))


@dataclass(frozen=True)
class TextCheck:
    """Texts pass through as a list; empty or whitespace-only ones are bad items."""

    def __call__(self, payloads: Sequence[Any]) -> Prepared:
        texts = np.asarray(payloads, dtype=object)
        ok = np.fromiter(map(len, map(str.strip, texts)), dtype=np.int64, count=len(texts)) > 0
        return Prepared(texts[ok].tolist(), ok, np.where(ok, "", "empty text").astype(object))


def _openable(payload: Any) -> Any:
    """A path as is; encoded bytes (a Parquet Image / Audio column) or a reference with ``open()`` (a tar
    member) as a binary file object; anything else (decoded arrays) is returned unchanged."""
    if isinstance(payload, (bytes, bytearray)):
        return io.BytesIO(payload)
    return payload.open() if hasattr(payload, "open") else payload


def _is_encoded(payload: Any) -> bool:
    return isinstance(payload, (str, bytes, bytearray)) or hasattr(payload, "open")


def _describe(payload: Any) -> str:
    if isinstance(payload, (bytes, bytearray)):
        return f"({len(payload)} bytes)"
    if _is_encoded(payload):
        return str(payload)
    return f"array {getattr(payload, 'shape', '?')}"


@dataclass(frozen=True)
class ImagePreprocess:
    """Decode (Pillow), convert to RGB, resize, centre-crop: uint8 ``[n, h, w, 3]``.

    ``shortest_edge`` resizes keeping the aspect ratio (CLIP, ImageNet
    models); ``size`` resizes to exactly ``(h, w)`` (SigLIP). ``crop`` then
    takes the centre. A payload is a path, a uint8 array (``[h, w]`` or
    ``[h, w, c]``), so packaged datasets need no temporary files, encoded
    bytes, or a reference with ``open()`` (a WebDataset tar member).
    """

    shortest_edge: int | None = None
    size: tuple[int, int] | None = None
    crop: tuple[int, int] | None = None
    resample: int = 3  # PIL.Image.Resampling.BICUBIC

    def output_shape(self) -> tuple[int, int]:
        if self.crop is not None:
            return self.crop
        if self.size is not None:
            return self.size
        raise ValueError("ImagePreprocess needs crop or size to give batches one shape")

    def _load(self, payload: Any) -> np.ndarray:
        from PIL import Image

        if _is_encoded(payload):  # a path, encoded bytes or a reference (a tar member)
            image = Image.open(_openable(payload))
            if self.shortest_edge:
                image.draft("RGB", (self.shortest_edge, self.shortest_edge))  # JPEG: decode at reduced scale
        else:
            image = Image.fromarray(np.asarray(payload))
        image = image.convert("RGB")
        if self.size is not None:
            image = image.resize((self.size[1], self.size[0]), self.resample)
        elif self.shortest_edge is not None:
            scale = self.shortest_edge / min(image.size)
            target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            if target != image.size:
                image = image.resize(target, self.resample)
        if self.crop is not None:
            h, w = self.crop
            left, top = (image.width - w) // 2, (image.height - h) // 2
            image = image.crop((left, top, left + w, top + h))
        return np.asarray(image)

    def __call__(self, payloads: Sequence[Any]) -> Prepared:
        h, w = self.output_shape()
        data = np.empty((len(payloads), h, w, 3), dtype=np.uint8)
        ok = np.zeros(len(payloads), dtype=bool)
        reasons = np.full(len(payloads), "", dtype=object)
        for i, payload in enumerate(payloads):
            try:
                data[i] = self._load(payload)
                ok[i] = True
            except FileNotFoundError:
                reasons[i] = f"missing image file {_describe(payload)}"
            except Exception as e:  # noqa: BLE001 - any decoder failure is this item's, not the run's
                reasons[i] = f"corrupt image {_describe(payload)} ({type(e).__name__}: {e})"
        return Prepared(data[ok], ok, reasons)


def _whole_wav(payload: Any) -> None:
    """Refuse a WAV whose data chunk is shorter than its header says (a cut copy): libsndfile reads the
    samples that are there, so the clip would be encoded as less audio without a word."""
    if not (isinstance(payload, str) and payload.lower().endswith(".wav")):
        return
    with open(payload, "rb") as f:
        head = f.read(1 << 16)
        size = f.seek(0, 2)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return  # not RIFF/WAVE: libsndfile says what it is
    at = 12
    while at + 8 <= len(head):
        chunk, length = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
        if chunk == b"data":
            have = size - (at + 8)
            if length != 0xFFFFFFFF and length > have:
                raise ValueError(f"truncated WAV: its header says {length} bytes of audio, the file holds {have}")
            return
        at += 8 + length + (length & 1)


@dataclass(frozen=True)
class AudioPreprocess:
    """Decode (soundfile), mix to mono, resample to ``rate``; then ``features`` if given.

    An array payload is taken to be mono samples already at ``rate``.
    ``features`` (a picklable callable over the list of waveforms, e.g.
    CLAP's feature extractor) runs here so the worker, not the model's
    process, pays for spectrograms.
    """

    rate: int
    features: Callable[[list[np.ndarray]], Any] | None = None

    def _load(self, payload: Any) -> np.ndarray:
        if not _is_encoded(payload):
            return np.asarray(payload, dtype=np.float32).reshape(-1)
        import soundfile

        if isinstance(payload, str) and not os.path.exists(payload):  # soundfile: a generic RuntimeError
            raise FileNotFoundError(payload)
        _whole_wav(payload)
        wave, rate = soundfile.read(_openable(payload), dtype="float32", always_2d=True)
        if not np.isfinite(wave).all():
            raise ValueError(f"{int((~np.isfinite(wave)).sum())} samples are NaN or inf")
        wave = wave.mean(axis=1)
        if rate != self.rate and len(wave):
            from scipy.signal import resample_poly

            g = gcd(rate, self.rate)
            wave = resample_poly(wave, self.rate // g, rate // g).astype(np.float32)
        return wave

    def __call__(self, payloads: Sequence[Any]) -> Prepared:
        waves: list[np.ndarray] = []
        ok = np.zeros(len(payloads), dtype=bool)
        reasons = np.full(len(payloads), "", dtype=object)
        for i, payload in enumerate(payloads):
            try:
                wave = self._load(payload)
            except FileNotFoundError:
                reasons[i] = f"missing audio file {_describe(payload)}"
                continue
            except Exception as e:  # noqa: BLE001 - any decoder failure is this item's, not the run's
                reasons[i] = f"corrupt audio {_describe(payload)} ({type(e).__name__}: {e})"
                continue
            if len(wave) == 0:
                reasons[i] = f"empty audio {_describe(payload)} (0 samples)"
                continue
            waves.append(wave)
            ok[i] = True
        data = self.features(waves) if self.features is not None and waves else waves
        return Prepared(data, ok, reasons)
