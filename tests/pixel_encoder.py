"""A tiny deterministic image encoder for tests: mean colour of each quadrant (12-d), no model files.

Loaded through the ``python:module:attr`` encoder family, as a user's own encoder would be.
"""

from __future__ import annotations

import numpy as np

from embridge.encoders.base import Encoder, Tower
from embridge.encoders.preprocess import ImagePreprocess


class Quadrants(Tower):
    name = modality = "image"
    dim = 12
    parallel = True  # decode in worker processes, as real image towers do

    @property
    def preprocess(self) -> ImagePreprocess:
        return ImagePreprocess(size=(8, 8))

    def encode(self, prepared: np.ndarray) -> np.ndarray:
        x = prepared.astype(np.float32).reshape(len(prepared), 2, 4, 2, 4, 3).mean(axis=(2, 4))
        return x.reshape(len(prepared), 12) / 255.0 + 0.01


class PixelEncoder(Encoder):
    family = "python"

    def __init__(self) -> None:
        self.towers = {"image": Quadrants()}

    def identity(self) -> dict[str, str]:
        return {"model": "python:pixel_encoder:PixelEncoder", "revision": "1"}
