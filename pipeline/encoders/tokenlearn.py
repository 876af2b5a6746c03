"""``tokenlearn:`` a static (Model2Vec-style) text embedder, the ``tokenlearn-static-model`` wheel's.

``tokenlearn:static-10k-64d`` is the one model the wheel bakes in (a 10k
vocabulary of int8 token vectors, pooled by a Rust core): no attention, so
it embeds text at tokenizer speed, and what it keeps of a sentence is a bag
of its tokens. The identity holds the package version and the model files'
sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, Options, TextTower, parse_options
from embridge.encoders.resolve import files_sha256

MODELS = ("static-10k-64d",)


class TokenlearnTower(TextTower):
    def __init__(self, encode_batch: Any, model_dir: str, dim: int) -> None:
        self._encode_batch, self._dir, self.dim = encode_batch, model_dir, dim

    def encode(self, prepared: list[str]) -> np.ndarray:
        out = self._encode_batch(self._dir, prepared, 512)
        return np.asarray(out, dtype=np.float32).reshape(-1, self.dim)


class TokenlearnEncoder(Encoder):
    family = "tokenlearn"

    def __init__(self, name: str, options: Options) -> None:
        try:
            import static_model
            from static_model._static_model import encode_batch
        except ImportError:
            raise BridgeError(f"encoder 'tokenlearn:{name}': pip install tokenlearn-static-model "
                              f"(the model is in the wheel)") from None
        from importlib.metadata import version

        if name not in MODELS:
            raise BridgeError(f"encoder 'tokenlearn:{name}': unknown model; known: {', '.join(MODELS)}")
        model_dir = static_model.ensure_model_ready(Path(static_model.__file__).parent / "model")
        dim = len(encode_batch(str(model_dir), ["a"], 512)[0])
        self._identity = {"model": f"tokenlearn:{name}",
                          "package": f"tokenlearn-static-model=={version('tokenlearn-static-model')}",
                          "weights_sha256": files_sha256(model_dir)}
        self.towers = {"text": TokenlearnTower(encode_batch, str(model_dir), dim)}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return TokenlearnEncoder(model, parse_options(Options, options, f"tokenlearn:{model}"))
