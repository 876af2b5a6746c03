"""``precomputed:<name>``: vectors computed elsewhere (clip-retrieval, a team's own pipeline) enter the store as
they are. The tower checks the dim and passes each batch through; the ``vectors`` source reads them.

``options.dim`` is the vectors' dim; ``options.tower`` the modality they embed (default ``image``), so a
bridge can pair them with other sets by group like any extracted set. The identity recorded in the
manifest is ``<name>`` and the dim: what produced the vectors is outside this project.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, Options, Tower, parse_options


class PrecomputedOptions(Options):
    dim: int = Field(ge=1, description="dim of the vectors")
    towers: list[str] = Field(default_factory=lambda: ["image"], min_length=1,
                              description="modalities the vectors embed (one tower each)")


class _Pass(Tower):
    def __init__(self, name: str, dim: int) -> None:
        self.name = self.modality = name
        self.dim = dim

    def encode(self, prepared: Any) -> np.ndarray:
        x = np.asarray(prepared, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise BridgeError(f"precomputed vectors must be [n, {self.dim}] (options.dim), got {list(x.shape)}")
        return x


class PrecomputedEncoder(Encoder):
    family = "precomputed"

    def __init__(self, model: str, opts: PrecomputedOptions) -> None:
        self.model, self.opts = model, opts
        self.towers = {t: _Pass(t, opts.dim) for t in opts.towers}

    def identity(self) -> dict[str, Any]:
        return {"model": f"precomputed:{self.model}", "revision": f"dim-{self.opts.dim}"}


def load(model: str, options: dict[str, Any]) -> Encoder:
    return PrecomputedEncoder(model, parse_options(PrecomputedOptions, options, f"precomputed:{model}"))
