"""``clap:`` Hugging Face CLAP audio-text encoders: ``text`` and ``audio`` towers.

``clap:laion/clap-htsat-unfused`` (hub id) or ``clap:/path/to/saved/model``.
Audio files are decoded, mixed to mono and resampled to the feature
extractor's ``sampling_rate`` in worker processes, which also compute the mel
features (CLAP's ``ClapFeatureExtractor``, pure numpy), so the main process
runs only the forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from embridge.encoders.base import Encoder, Tower, parse_options
from embridge.encoders.preprocess import AudioPreprocess
from embridge.encoders.resolve import resolve
from embridge.encoders.runtime import Runtime, TokenizedTextTower, TorchOptions, quiet_transformers


class ClapOptions(TorchOptions):
    revision: str | None = None


@dataclass(frozen=True)
class ClapFeatures:
    """The checkpoint's feature extractor over a batch of waveforms, made deterministic.

    CLAP crops clips longer than its window at a random offset
    (``rand_trunc``/``fusion``); a fixed seed per batch keeps the same inputs
    giving the same vectors, which identical reruns depend on.
    """

    extractor: Any

    def __call__(self, waves: list[np.ndarray]) -> dict[str, np.ndarray]:
        state = np.random.get_state()
        np.random.seed(0)
        try:
            out = self.extractor(waves, sampling_rate=self.extractor.sampling_rate, return_tensors="np")
        finally:
            np.random.set_state(state)
        return {k: np.asarray(v) for k, v in out.items() if k in ("input_features", "is_longer")}


class ClapAudioTower(Tower):
    name = modality = "audio"
    parallel = True

    def __init__(self, runtime: Runtime, model: Any, extractor: Any, dim: int) -> None:
        self._runtime, self._model, self.dim = runtime, model, dim
        self._preprocess = AudioPreprocess(int(extractor.sampling_rate), ClapFeatures(extractor))

    @property
    def preprocess(self) -> AudioPreprocess:
        return self._preprocess

    def encode(self, prepared: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        inputs = {k: torch.from_numpy(v) for k, v in prepared.items()}
        return self._runtime.run(self._model.get_audio_features, **inputs)


class ClapEncoder(Encoder):
    family = "clap"

    def __init__(self, spec: str, options: ClapOptions) -> None:
        from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel

        resolved = resolve(spec, options.revision)
        quiet_transformers()
        runtime = Runtime(options)
        model = runtime.prepare(ClapModel.from_pretrained(str(resolved.path)))
        tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
        extractor = ClapFeatureExtractor.from_pretrained(str(resolved.path))
        dim = int(model.config.projection_dim)
        # Roberta positions start after the padding index, so the usable length is 2 shorter
        max_length = model.config.text_config.max_position_embeddings - 2
        self._identity = {"model": f"clap:{spec}", **resolved.identity}
        self.towers = {
            "text": TokenizedTextTower(runtime, tokenizer, model.get_text_features, dim, max_length),
            "audio": ClapAudioTower(runtime, model, extractor, dim),
        }

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return ClapEncoder(model, parse_options(ClapOptions, options, f"clap:{model}"))
